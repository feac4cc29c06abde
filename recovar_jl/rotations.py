"""Uniformly distributed random rotations (NumPy only: importable by tests, bench and jobs without Julia)."""
from __future__ import annotations

import numpy as np

__all__ = ["random_rotations"]


def random_rotations(n: int, rng=None, dtype=np.float64) -> np.ndarray:
    """n rotation matrices drawn uniformly from SO(3), shape (n, 3, 3), det +1.

    A unit quaternion (w, x, y, z) from a normalised 4-D standard normal is uniform on the
    3-sphere, so its rotation matrix is uniform (Haar) on SO(3). `rng` is a
    ``np.random.Generator`` or anything ``np.random.default_rng`` takes (a seed, None); the
    matrices are computed in float64 and returned as `dtype`. Draws ``rng.standard_normal((n, 4))``
    and nothing else, so a seeded stream stays reproducible.
    """
    rng = np.random.default_rng(rng)
    q = rng.standard_normal((n, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    w, x, y, z = q.T
    R = np.empty((n, 3, 3))
    R[:, 0, 0] = 1 - 2 * (y * y + z * z)
    R[:, 0, 1] = 2 * (x * y - z * w)
    R[:, 0, 2] = 2 * (x * z + y * w)
    R[:, 1, 0] = 2 * (x * y + z * w)
    R[:, 1, 1] = 1 - 2 * (x * x + z * z)
    R[:, 1, 2] = 2 * (y * z - x * w)
    R[:, 2, 0] = 2 * (x * z - y * w)
    R[:, 2, 1] = 2 * (y * z + x * w)
    R[:, 2, 2] = 1 - 2 * (x * x + y * y)
    return R.astype(dtype, copy=False)
