"""A deterministic synthetic molecule made of Gaussian atoms (no download).

Four globular domains of different sizes, each a random-walk chain of atoms 1.5 voxels
apart (roughly a Cα trace at 2.5 Å per voxel), with a few heavy atoms; everything within
0.36 of the box from the centre so that shifts and CTF delocalisation stay in the box.
The same arguments always give the same array (NumPy's PCG64 stream).
"""
from __future__ import annotations

import numpy as np

# Domain centres (fractions of the box from its centre) and radii (fractions of the box):
# deliberately asymmetric so that a wrong hand or axis order shows in the slices.
_DOMAINS = (
    ((-0.10, -0.08, 0.02), 0.16, 0.40),
    ((0.13, -0.05, -0.06), 0.12, 0.25),
    ((0.00, 0.15, 0.08), 0.11, 0.22),
    ((0.06, 0.02, -0.19), 0.08, 0.13),
)
_STEP = 1.5          # voxels between consecutive chain atoms
_MIN_SEPARATION = 1.1  # voxels; keeps chains from collapsing onto themselves


def phantom_atoms(box: int, atoms_per_voxel: float = 0.02, seed: int = 0):
    """Atom positions (voxels from the box centre, axes x, y, z) and amplitudes.

    Returns ``(positions (m, 3) float64, amplitudes (m,) float64)``.
    """
    if box < 8:
        raise ValueError(f"box must be at least 8, got {box}")
    rng = np.random.default_rng(seed)
    total = max(40, int(round(atoms_per_voxel * box ** 3)))
    positions, amplitudes = [], []
    for center_frac, radius_frac, share in _DOMAINS:
        center = np.asarray(center_frac) * box
        radius = radius_frac * box
        n = max(10, int(round(share * total)))
        chain = [center + rng.normal(size=3) * 0.3 * radius]
        direction = rng.normal(size=3)
        while len(chain) < n:
            for _attempt in range(50):
                # Persistent random walk: keep some memory of the previous direction.
                direction = 0.55 * direction / np.linalg.norm(direction) + rng.normal(size=3) / np.sqrt(3)
                step = _STEP * direction / np.linalg.norm(direction)
                candidate = chain[-1] + step
                if np.linalg.norm(candidate - center) > radius:
                    direction = center - chain[-1] + rng.normal(size=3)
                    continue
                recent = np.asarray(chain[-60:-1]) if len(chain) > 1 else np.empty((0, 3))
                if recent.size and np.min(np.linalg.norm(recent - candidate, axis=1)) < _MIN_SEPARATION:
                    continue
                break
            chain.append(candidate)
        positions.append(np.asarray(chain))
        kinds = rng.random(n)
        amplitudes.append(np.select([kinds < 0.02, kinds < 0.20, kinds < 0.40], [2.5, 1.3, 1.15], 1.0))
    return np.concatenate(positions), np.concatenate(amplitudes)


def gaussian_atom_phantom(box: int, atom_sigma: float = 0.8, atoms_per_voxel: float = 0.02,
                          seed: int = 0) -> np.ndarray:
    """The phantom sampled on a ``box``³ grid, indexed ``[x, y, z]``, float32, maximum 1.

    Each atom is ``a·exp(−|r − p|² / (2σ²))`` with σ = ``atom_sigma`` voxels, centred at
    its position relative to voxel ``box // 2`` (the real-space origin of the centred FFTs).
    """
    positions, amplitudes = phantom_atoms(box, atoms_per_voxel=atoms_per_voxel, seed=seed)
    return atoms_volume(positions, amplitudes, box, atom_sigma)


def atoms_volume(positions: np.ndarray, amplitudes: np.ndarray, box: int, atom_sigma: float = 0.8) -> np.ndarray:
    """Gaussian atoms (positions (m, 3) voxels from voxel ``box // 2``, axes x, y, z) on a
    ``box``³ grid indexed ``[x, y, z]``, float32, scaled to maximum 1."""
    reach = int(np.ceil(3.5 * atom_sigma))
    offsets = np.arange(-reach, reach + 1)
    grid = np.stack(np.meshgrid(offsets, offsets, offsets, indexing="ij"), axis=-1).reshape(-1, 3)
    coords = positions + box // 2
    base = np.floor(coords).astype(np.int64)
    vox = base[:, None, :] + grid[None, :, :]                       # (m, k, 3)
    d2 = np.sum((vox - coords[:, None, :]) ** 2, axis=-1)
    values = amplitudes[:, None] * np.exp(-d2 / (2.0 * atom_sigma ** 2))
    inside = np.all((vox >= 0) & (vox < box), axis=-1)
    flat = np.ravel_multi_index(tuple(vox[inside].T), (box, box, box))
    volume = np.bincount(flat, weights=values[inside], minlength=box ** 3).reshape(box, box, box)
    return (volume / volume.max()).astype(np.float32)
