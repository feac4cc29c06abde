"""Point-group symmetry (`--sym`) in RELION's conventions: Cn, Dn, T, O, I (I1–I4).

A map V indexed [x, y, z] has symmetry S (a 3×3 rotation of the coordinates about the box
centre) when V(S·r) = V(r); its spectrum then has V̂(S·q) = V̂(q). The groups and their axis
orientations are RELION's (docs/cli.md, "Symmetry"):

* Cn: n-fold axis along z.  Dn: n-fold along z, a 2-fold along x.
* T: a 3-fold along z, a 2-fold along (0, √(2/3), √(1/3)).  O: 4-folds along x, y, z.
* I2 (RELION's bare ``I``): 2-folds along x, y, z, a 5-fold in the xz plane.
  I1 is I2 turned by 90° about y (a 2-fold along x, a 5-fold in xz); I3 has a 5-fold along
  z and I4 a 5-fold in the xz plane, both as RELION places them.

Reconstruction uses the group through the poses (docs/cli.md): an image with rotation R
(rows: image x, image y, projection direction; q = Rᵀ·k) of a map with symmetry S is
also an image of it with rotation R·S, so every particle is backprojected once per
operator with R·S.
"""
from __future__ import annotations

import re
from typing import Iterator

import numpy as np

_NAME = re.compile(r"^(?:([CD])([1-9][0-9]*)|(T)|(O)|I([1-4]?))$")
_MAX_ORDER = 1000   # Cn/Dn: a larger n is surely a typo (and n operators per particle)

_PHI = (1.0 + np.sqrt(5.0)) / 2.0


def parse_symmetry(text: str) -> str:
    """Normalised group name ('C1', 'D7', 'T', 'O', 'I2', …) or ValueError naming --sym.

    Case-insensitive, as RELION; the bare 'I' is RELION's default icosahedral setting I2.
    """
    name = str(text).strip().upper()
    match = _NAME.match(name)
    if match is None:
        raise ValueError(f"--sym {text!r} is not a supported point group; use Cn or Dn (n ≥ 1, e.g. C1, C4, D7), "
                         f"T, O, or I (= I2), I1, I2, I3, I4")
    if match.group(2) is not None and int(match.group(2)) > _MAX_ORDER:
        raise ValueError(f"--sym {text!r}: the order must be at most {_MAX_ORDER}")
    if name == "I":
        return "I2"
    return name


def axis_rotation(axis, fold: int) -> np.ndarray:
    """(3, 3) rotation by 360°/fold about ``axis`` (any length), right-handed."""
    u = np.asarray(axis, dtype=np.float64)
    u = u / np.linalg.norm(u)
    angle = 2.0 * np.pi / fold
    cross = np.array([[0.0, -u[2], u[1]], [u[2], 0.0, -u[0]], [-u[1], u[0], 0.0]])
    return np.cos(angle) * np.eye(3) + np.sin(angle) * cross + (1.0 - np.cos(angle)) * np.outer(u, u)


def _y_rotation(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def _icosahedral_i2_generators() -> list:
    # 2-fold along z, 5-fold (a, 0, b) in the xz plane, 3-fold (0, 1, φ²)/‖·‖ in the yz plane.
    return [axis_rotation((0, 0, 1), 2), axis_rotation((1.0, 0.0, _PHI), 5),
            axis_rotation((0.0, 1.0, _PHI ** 2), 3)]


# Rigid turns about y taking I2's frame to the other settings: I1 by 90°; I3 by −θ and I4 by +θ,
# θ = atan(1/φ) the angle between I2's 2-fold (z) and its 5-fold (a, 0, b) in the xz plane.
_ICOSAHEDRAL_FRAMES = {"I1": np.pi / 2, "I2": 0.0, "I3": -np.arctan(1.0 / _PHI), "I4": np.arctan(1.0 / _PHI)}


def _generators(name: str) -> list:
    if name[0] in "CD":
        n = int(name[1:])
        gens = [axis_rotation((0, 0, 1), n)]
        if name[0] == "D":
            gens.append(axis_rotation((1, 0, 0), 2))
        return gens
    if name == "T":
        return [axis_rotation((0, 0, 1), 3), axis_rotation((0.0, np.sqrt(2.0 / 3.0), np.sqrt(1.0 / 3.0)), 2)]
    if name == "O":
        return [axis_rotation((1, 1, 1), 3), axis_rotation((0, 0, 1), 4)]
    frame = _y_rotation(_ICOSAHEDRAL_FRAMES[name])
    return [frame @ g @ frame.T for g in _icosahedral_i2_generators()]


def _closure(generators: list) -> np.ndarray:
    """Every product of the generators, identity first, in breadth-first order."""
    elements = [np.eye(3)]
    frontier = [np.eye(3)]
    while frontier:
        found = []
        for a in frontier:
            for g in generators:
                candidate = g @ a
                if not any(np.abs(candidate - e).max() < 1e-6 for e in elements):
                    elements.append(candidate)
                    found.append(candidate)
        frontier = found
    return np.asarray(elements)


def symmetry_operators(name: str = "C1") -> np.ndarray:
    """The rotations of point group ``name`` (a --sym value): (order, 3, 3) float64, identity first.

    Orders: Cn n, Dn 2n, T 12, O 24, I 60.
    """
    group = parse_symmetry(name)
    if group == "C1":
        return np.eye(3)[None]
    ops = _closure(_generators(group))
    # Re-orthonormalise: products of rotations drift by a few ulps.
    u, _, vt = np.linalg.svd(ops)
    return u @ vt


def operator_rotations(rotations: np.ndarray, operators: np.ndarray) -> Iterator[np.ndarray]:
    """For each operator S, the poses R·S (n, 3, 3) float32 under which the images also show the map."""
    R = np.asarray(rotations, dtype=np.float64)
    for S in operators:
        yield (R @ S).astype(np.float32)
