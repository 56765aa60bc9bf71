"""Collocation-point samplers; adaptive ones observe residuals."""

from pinnlab.sampling.base import FixedSampler, PointDrawer, Sampler, make_sampler, register_sampler, sampler_names
from pinnlab.sampling.graded import GradedDesign, GradedSampler
from pinnlab.sampling.grid import GridDrawer, PeriodicGrid
from pinnlab.sampling.r3 import CausalR3Sampler, R3Sampler, RADSampler, ResidualSampler, Snapshot

__all__ = [
    "CausalR3Sampler", "FixedSampler", "GradedDesign", "GradedSampler", "GridDrawer", "PeriodicGrid", "PointDrawer",
    "R3Sampler", "RADSampler", "ResidualSampler", "Sampler", "Snapshot", "make_sampler", "register_sampler", "sampler_names",
]
