"""Domains of PINN problems: boxes, balls, 2-D and 3-D shapes, CSG, meshes, time × space.

Shapes combine with ``|`` (union), ``&`` (intersection) and ``-`` (difference); every
geometry samples interior and boundary points (uniform, Sobol or Latin hypercube), gives
outward normals and, for shapes, approximate distance functions for exact boundary
conditions (:meth:`Geometry.distance_function`).
"""

from .ball import Ball
from .base import Geometry
from .box import Box
from .csg import Difference, Intersection, Union, as_shape, difference, intersection, union
from .distance import Arithmetic, DistanceFunction
from .factory import geometry_from_dict
from .hypercube import Hypercube
from .meshing import Triangulation, triangulate
from .quadrature import Quadrature, boundary_quadrature, domain_quadrature
from .shape import Shape
from .shapes2d import AxisBox, Disk, Ellipse, Polygon, Rectangle
from .shapes3d import Cuboid, Cylinder, Sphere
from .timespace import TimeSpace

__all__ = [
    "Arithmetic", "AxisBox", "Ball", "Box", "Cuboid", "Cylinder", "Difference", "Disk", "DistanceFunction", "Ellipse",
    "Geometry", "Hypercube", "Intersection", "Polygon", "Quadrature", "Rectangle", "Shape", "Sphere", "TimeSpace",
    "Triangulation", "Union", "as_shape", "boundary_quadrature", "difference", "domain_quadrature", "geometry_from_dict",
    "intersection", "triangulate", "union",
]
