"""Collocation-point samplers; adaptive ones observe residuals."""

from pinnlab.sampling.base import FixedSampler, PointDrawer, Sampler, make_sampler, register_sampler, sampler_names

__all__ = ["FixedSampler", "PointDrawer", "Sampler", "make_sampler", "register_sampler", "sampler_names"]
