"""Write the closed STL surface of configs/poisson3d_stl.yaml: the unit cube with a spherical cavity.

The cube's faces are two triangles each; the cavity of radius 0.25 around (0.5, 0.5, 0.5) is an
icosphere of 320 triangles, turned inside out so that every normal points out of the domain.
Run from the repository root:

    python examples/box_with_hole_stl.py          # writes configs/meshes/box_with_hole.stl
    pinnlab solve configs/poisson3d_stl.yaml
"""

from __future__ import annotations

import sys
from pathlib import Path

import meshio

from pinnlab.geometry.tessellate import box_surface, combine, icosphere

TARGET = Path(__file__).resolve().parents[1] / "configs" / "meshes" / "box_with_hole.stl"


def box_with_hole_mesh() -> meshio.Mesh:
    """The surface as a meshio mesh of triangles."""
    points, triangles = combine(box_surface((0, 0, 0), (1, 1, 1)), icosphere((0.5, 0.5, 0.5), 0.25, 2),
                                flip=[False, True])
    return meshio.Mesh(points, [("triangle", triangles)])


def main(path: Path = TARGET) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    meshio.write(path, box_with_hole_mesh(), binary=True)
    print(f"wrote {path}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else TARGET)
