"""Domains of PINN problems: boxes, hypercubes, balls and time × space, with samplers."""

from .ball import Ball
from .base import Geometry
from .box import Box
from .factory import geometry_from_dict
from .hypercube import Hypercube
from .timespace import TimeSpace

__all__ = ["Ball", "Box", "Geometry", "Hypercube", "TimeSpace", "geometry_from_dict"]
