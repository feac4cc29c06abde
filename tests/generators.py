"""Random test data and index maps shared by the test modules (NumPy only, no Julia).

Layout maps follow docs' rfft packing: a packed axis of a centered grid of size n keeps the
columns n//2 … n−1 (frequencies 0 … ⌈n/2⌉−1), plus column 0 (frequency −n/2) when n is even.
"""
import numpy as np

from recovar_jl.rotations import random_rotations  # noqa: F401  (re-exported for the tests)


def crandn(rng, *shape, dtype=np.complex128):
    """Complex standard normal noise (real and imaginary parts each N(0, 1)) of `shape`."""
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dtype)


def ctf_rows(rng, n, dtype=np.float64, defocus=(5000.0, 20000.0), bfactor=True):
    """(n, 9) CTF parameters [DFU, DFV, DFANG, VOLT, CS, W, PHASE, BFACTOR, CONTRAST] as in real data.

    DFU uniform in `defocus` (Å), DFV = DFU ± 500 Å, angle in [0, 180)°, 300 kV, Cs 2.7 mm,
    W 0.1, no phase shift, B-factor in [0, 50) Å² (0 without `bfactor`), contrast 1.
    `rng`: a Generator or a seed.
    """
    rng = np.random.default_rng(rng)
    p = np.zeros((n, 9), dtype)
    p[:, 0] = rng.uniform(*defocus, n)
    p[:, 1] = p[:, 0] + rng.uniform(-500, 500, n)
    p[:, 2] = rng.uniform(0, 180, n)
    p[:, 3] = 300.0
    p[:, 4] = 2.7
    p[:, 5] = 0.1
    if bfactor:
        p[:, 7] = rng.uniform(0, 50, n)
    p[:, 8] = 1.0
    return p


def packed_columns(n):
    """Columns of a centered axis of size n that the rfft-packed half grid stores, in packed order."""
    return np.array(list(range(n // 2, n)) + ([0] if n % 2 == 0 else []))


def partner(n):
    """Index of −k for each centered index of an axis of size n (even n: −n/2 maps to itself)."""
    return (n - n % 2 - np.arange(n)) % n


def packed_pixel_indices(n):
    """Flat index into an (n, n) centered image of every pixel the rfft-packed half image stores."""
    return (np.arange(n)[:, None] * n + packed_columns(n)[None, :]).ravel()


def _mirrored(a, shape):
    """`a` (trailing axes = grid `shape`) read at −k on every grid axis but the last."""
    for axis, n in enumerate(shape[:-1]):
        a = np.take(a, partner(n), axis=axis - len(shape))
    return a


def _redundant_columns(m):
    """Columns of a centered last axis of size m that the packed half grid does not store."""
    return range(1, m // 2) if m % 2 == 0 else range(0, m // 2)


def expand_half(h, shape):
    """Full centered grid (..., *shape) from its rfft-packed half (..., *shape[:-1], m//2+1), m = shape[-1].

    Stored columns are copied; the others come from Hermitian symmetry F(−k) = conj F(k).
    """
    m = shape[-1]
    h = np.asarray(h)
    full = np.zeros(h.shape[:-1] + (m,), dtype=np.result_type(h.dtype, np.complex64))
    full[..., packed_columns(m)] = h
    conj_mirror = np.conj(_mirrored(h, shape))
    for c in _redundant_columns(m):
        full[..., c] = conj_mirror[..., m // 2 - c]
    return full


def fold_full(g, shape):
    """Adjoint of :func:`expand_half` for the real inner product Re⟨·, ·⟩: (..., *shape) → packed half."""
    m = shape[-1]
    g = np.asarray(g)
    h = np.zeros(g.shape[:-1] + (m // 2 + 1,), dtype=np.result_type(g.dtype, np.complex64))
    h += g[..., packed_columns(m)]
    for c in _redundant_columns(m):
        # −k ↦ k is its own inverse, so the adjoint of "read the mirror" is "add at the mirror"
        h[..., m // 2 - c] += np.conj(_mirrored(g[..., c:c + 1], shape)[..., 0])
    return h


def centered_dft(x, axes=None, norm=None):
    """NumPy's centered DFT (zero frequency at index n//2) over `axes` (all by default)."""
    return np.fft.fftshift(np.fft.fftn(np.fft.fftshift(x, axes=axes), axes=axes, norm=norm), axes=axes)


def centered_idft(x, axes=None, norm=None):
    """Inverse of :func:`centered_dft`."""
    return np.fft.ifftshift(np.fft.ifftn(np.fft.ifftshift(x, axes=axes), axes=axes, norm=norm), axes=axes)
