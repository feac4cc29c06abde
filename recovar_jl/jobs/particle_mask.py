"""Soft circular mask applied to the particle images before backprojection (``--particle-diameter``).

White noise fills the whole box, but the particle only a disc of its diameter: noise outside
that disc adds to the map and no signal. Multiplying each image by a disc (1 inside
``diameter / 2``, a raised-cosine edge falling to 0 over ``EDGE_PIXELS`` beyond it, as
relion_refine's ``--particle_diameter`` with its default 5-pixel ``width_mask_edge``) removes
that noise; the edge is soft so that the mask does not ring in Fourier space.

The CTF spreads each frequency k of the particle over about ``λ·Δf·|k|`` around it (27 pixels
at 6 Å with 2.5 µm defocus at 3 Å/pixel), so a mask cuts high-resolution signal unless the box
and the diameter leave room for that spread. That is why there is no mask by default (RELION
backprojects unmasked images too): measured in bench/peers/results.md, the default radial
filter (:mod:`.radial_wiener`) removes the solvent noise from the map without this cost.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

EDGE_PIXELS = 5.0


def image_mask(box: int, voxel_size: float, diameter: float) -> np.ndarray:
    """(box, box) float32 soft disc of ``diameter`` Å centred on pixel ``box // 2``.

    Raises ValueError naming ``diameter`` if it is not a positive number.
    """
    from ..core.mask import smooth_circular_mask

    if not (np.isfinite(diameter) and diameter > 0):
        raise ValueError(f"diameter must be a positive number of Å, got {diameter}")
    return smooth_circular_mask(box, 0.5 * diameter / voxel_size, EDGE_PIXELS).astype(np.float32)


def check_diameter(diameter: Optional[float], box: int, voxel_size: float) -> Optional[str]:
    """A one-line problem with ``--particle-diameter`` for this box, or None if it is usable."""
    if diameter is None:
        return None
    if not (np.isfinite(diameter) and diameter > 0):
        return f"--particle-diameter must be a positive number of Å, got {diameter:g}"
    if diameter / voxel_size < 2 * EDGE_PIXELS:
        return (f"--particle-diameter {diameter:g} Å is {diameter / voxel_size:.1f} pixels at {voxel_size:g} Å/pixel; "
                f"give the particle's diameter in Å (at least {2 * EDGE_PIXELS * voxel_size:g} Å)")
    return None
