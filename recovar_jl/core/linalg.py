"""Linear-algebra helpers: blockwise products, SVDs, batched solvers, inner products, column DFTs.

Mirrors ``recovar.core.linalg`` (recovar 1.0.5; docs/conventions.md §14). Dense linear algebra is
NumPy/LAPACK (the best tool on a CPU); the column DFTs (``dft3``, ``idft3``, ``batch_dft3``,
``batch_idft3``) are the Julia centered-FFT kernel applied across the columns without
transposing them. Every array result is a NumPy array (0-d for scalars).
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import _julia
from .. import _validate as V
from . import fourier_transform_utils as ftu

__all__ = [
    "batch_st_end", "blockwise_Y_T_X", "blockwise_X_T_X", "blockwise_A_X", "thin_svd_in_blocks", "thin_svd",
    "randomized_svd", "idft3", "dft3", "batch_idft3", "batch_dft3", "broadcast_dot", "broadcast_outer",
    "inner_product", "batch_inner_product", "half_spectrum_last_axis_weights", "rfft2_hermitian_weights",
    "half_spectrum_inner_product", "batch_half_spectrum_inner_product", "multiply_along_axis",
    "batch_hermitian_linear_solver", "batch_linear_solver", "solve_by_SVD", "l2_distance",
]

_numpy = np  # the `np=` arguments below shadow the module name


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------

def _array(x, name: str, ndim=None, finite=True) -> np.ndarray:
    arr = V.as_array(x, name)
    V.check_ndim(arr, name, ndim)
    if finite:
        V.check_finite(arr, name)
    return arr


def _batch_size(batch_size, n_rows: int, total_gb: float, memory_to_use, name: str = "batch_size") -> int:
    """Rows per block: `batch_size` if given, else recovar's rule ``n_rows / ceil(total_gb / memory)``."""
    if batch_size is None:
        memory = V.positive_scalar(memory_to_use, "memory_to_use")
        n_blocks = max(1, int(np.ceil(total_gb / memory)))
        return max(1, int(np.floor(n_rows / n_blocks)))
    value = V.positive_scalar(batch_size, name)
    return max(1, int(value))


def _conj(x: np.ndarray) -> np.ndarray:
    return np.conj(x) if np.iscomplexobj(x) else x


def _size_gb(x: np.ndarray) -> float:
    return x.size * x.itemsize / 1e9


# ---------------------------------------------------------------------------------------------
# Blockwise products and SVDs
# ---------------------------------------------------------------------------------------------

def batch_st_end(k, batch_size, n_rows):
    """Row range of block k: ``(int(k·batch_size), int(min((k+1)·batch_size, n_rows)))``."""
    for value, name in ((k, "k"), (batch_size, "batch_size"), (n_rows, "n_rows")):
        V.real_number(value, name)
    return int(k * batch_size), int(min((k + 1) * batch_size, n_rows))


def blockwise_Y_T_X(Y, X, batch_size=None, memory_to_use=10):
    """``Yᴴ X`` for tall matrices Y (n, a) and X (n, b), accumulated over row blocks → (a, b).

    `batch_size` rows per block (default: from `memory_to_use` GB, as recovar); blocks only
    bound the temporary memory and the rounding order.
    """
    Y = _array(Y, "Y", ndim=2)
    X = _array(X, "X", ndim=2)
    if Y.shape[0] != X.shape[0]:
        raise ValueError(f"Y and X must have the same number of rows, got {Y.shape} and {X.shape}")
    rows = _batch_size(batch_size, X.shape[0], 4 * (_size_gb(X) + _size_gb(Y)), memory_to_use)
    out = np.zeros((Y.shape[1], X.shape[1]), dtype=np.result_type(Y.dtype, X.dtype))
    for start in range(0, X.shape[0], rows):
        out += _conj(Y[start:start + rows]).T @ X[start:start + rows]
    return out


def blockwise_X_T_X(X, batch_size=None, memory_to_use=10):
    """``Xᴴ X`` for a tall matrix X (n, b), accumulated over row blocks → (b, b)."""
    X = _array(X, "X", ndim=2)
    rows = _batch_size(batch_size, X.shape[0], _size_gb(X), memory_to_use)
    out = np.zeros((X.shape[1], X.shape[1]), dtype=X.dtype)
    for start in range(0, X.shape[0], rows):
        block = X[start:start + rows]
        out += _conj(block).T @ block
    return out


def blockwise_A_X(A, X, batch_size=None, memory_to_use=10):
    """``A X`` for A (n, k) and X (k, b), computed over row blocks of A → (n, b)."""
    A = _array(A, "A", ndim=2)
    X = _array(X, "X", ndim=2)
    if A.shape[1] != X.shape[0]:
        raise ValueError(f"A and X cannot be multiplied: shapes {A.shape} and {X.shape}")
    dtype = np.result_type(A.dtype, X.dtype)
    if batch_size is None:
        usable = V.positive_scalar(memory_to_use, "memory_to_use") - _size_gb(X)
        size_a = A.shape[0] * max(A.shape[1], X.shape[1]) * dtype.itemsize / 1e9
        rows = A.shape[0] if usable <= 0 else _batch_size(None, A.shape[0], 4 * size_a, usable)
    else:
        rows = _batch_size(batch_size, A.shape[0], 0.0, 1)
    out = np.zeros((A.shape[0], X.shape[1]), dtype=dtype)
    for start in range(0, A.shape[0], rows):
        out[start:start + rows] = A[start:start + rows] @ X
    return out


def _eigen_svd(gram: np.ndarray, X: np.ndarray, epsilon: float, product):
    eigenvalues, eigenvectors = np.linalg.eigh(gram)
    sigma = np.sqrt(np.where(eigenvalues > 0, eigenvalues, 0))
    safe = np.where(sigma > epsilon, sigma, 1)
    sigma_inv = np.where(sigma > epsilon, 1 / safe, 0)
    U = product(X, eigenvectors) * sigma_inv
    return U, sigma, eigenvectors


def thin_svd(X, np=np, epsilon=1e-8):
    """SVD of X (n, b) through the eigendecomposition of ``Xᴴ X``.

    Returns ``(U, σ, V)`` in descending order of σ, with **V (not Vᴴ)** as third output:
    ``X ≈ U diag(σ) Vᴴ``. Columns of U with σ ≤ `epsilon` are zero. `np` is accepted for
    recovar's signature and ignored (NumPy is always used).
    """
    X = _array(X, "X", ndim=2)
    eps = float(V.real_number(epsilon, "epsilon", finite=False))
    U, sigma, V_ = _eigen_svd(_conj(X).T @ X, X, eps, lambda a, b: a @ b)
    return _numpy.flip(U, axis=1), _numpy.flip(sigma), _numpy.flip(V_, axis=1)


def thin_svd_in_blocks(X, np=np, memory_to_use=5, epsilon=1e-8, n_components=-1):
    """:func:`thin_svd` through blockwise products; returns ``(U[:, :k], σ[:k], Vᴴ[:k])``,
    ``k = n_components`` if positive, else ``X.shape[0]``. `np` is ignored."""
    X = _array(X, "X", ndim=2)
    eps = float(V.real_number(epsilon, "epsilon", finite=False))
    components = V.integer(n_components, "n_components")
    gram = blockwise_X_T_X(X, memory_to_use=memory_to_use)
    U, sigma, V_ = _eigen_svd(gram, X, eps, lambda a, b: blockwise_A_X(a, b, memory_to_use=memory_to_use))
    k = components if components > 0 else X.shape[0]
    return (_numpy.flip(U, axis=1)[:, :k], _numpy.flip(sigma)[:k], _numpy.conj(_numpy.flip(V_, axis=1))[:, :k].T)


def randomized_svd(A, n_pcs=200):
    """Randomized SVD of A (n, d) with ``p = min(n_pcs, d)`` Gaussian probes.

    ``G = np.random.randn(d, p)`` (NumPy's global RNG, as recovar), ``Q`` = reduced QR of
    ``A G``, full SVD of ``Qᴴ A``. Returns ``(Q U, S, Vh)`` with Vh square (d, d).
    """
    A = _array(A, "A", ndim=2)
    if isinstance(n_pcs, (bool, np.bool_)) or not isinstance(n_pcs, numbers.Integral) or n_pcs <= 0:
        raise ValueError(f"n_pcs must be a positive integer, got {n_pcs!r}")
    p = n_pcs if n_pcs < A.shape[1] else A.shape[1]
    gauss = np.random.randn(A.shape[1], p)
    Q, _ = np.linalg.qr(blockwise_A_X(A, gauss))
    U, S, Vh = np.linalg.svd(blockwise_Y_T_X(Q, A), full_matrices=True)
    return blockwise_A_X(Q, U), S, Vh


# ---------------------------------------------------------------------------------------------
# Column DFTs
# ---------------------------------------------------------------------------------------------

def _columns(x, vec_shape, name="x"):
    shape = V.shape_tuple(vec_shape, "vec_shape", length=3)
    arr = V.numeric_array(x, name, ndim=2)
    if arr.shape[0] != shape[0] * shape[1] * shape[2]:
        raise ValueError(f"{name} must have shape ({int(np.prod(shape))}, m) for vec_shape={shape}, got {arr.shape}")
    return arr, shape


def _column_transform(arr: np.ndarray, shape: tuple, inverse: bool) -> np.ndarray:
    grid = arr.reshape(shape + (arr.shape[1],))
    fn = ftu.get_idft3 if inverse else ftu.get_dft3
    if arr.shape[1] == 0:
        return np.zeros(arr.shape, dtype=V.complex_dtype(arr.dtype))
    return fn(grid, axes=(0, 1, 2)).reshape(arr.shape)


def idft3(x, vec_shape):
    """Centered inverse 3-D DFT of every column of x (V, m), V = prod(vec_shape) → (V, m) complex."""
    arr, shape = _columns(x, vec_shape)
    return _column_transform(arr, shape, inverse=True)


def dft3(x, vec_shape):
    """Centered 3-D DFT of every column of x (V, m) → (V, m), complex64 (complex128 for 64-bit)."""
    arr, shape = _columns(x, vec_shape)
    return _column_transform(arr, shape, inverse=False)


def _batch_size_arg(batch_size):
    return int(np.ceil(V.positive_scalar(batch_size, "batch_size")))


def batch_dft3(x, vec_shape, batch_size):
    """:func:`dft3` of x (V, m) → **complex64** (V, m), whatever the input precision.

    `batch_size` (columns per block in recovar) is validated; the Julia kernel needs no
    blocking: it works in cache-sized pieces and allocates no full-size temporary.
    """
    _batch_size_arg(batch_size)
    arr, shape = _columns(x, vec_shape)
    if arr.dtype == np.float64:
        arr = arr.astype(np.float32)
    elif arr.dtype == np.complex128:
        arr = arr.astype(np.complex64)
    return _column_transform(arr, shape, inverse=False)


def batch_idft3(x, vec_shape, batch_size, *, overwrite=False):
    """:func:`idft3` of x (V, m), result in the dtype of x (real x keeps the real part).

    With ``overwrite=True`` the result is written into `x` itself (in place) and `x` is
    returned. x must be float32/float64/complex64/complex128.
    """
    _batch_size_arg(batch_size)
    overwrite = V.flag(overwrite, "overwrite")
    raw = V.as_array(x, "x")
    if raw.dtype not in (np.float32, np.float64, np.complex64, np.complex128):
        raise TypeError(f"x must be a float32/float64/complex64/complex128 array, got dtype {raw.dtype}")
    if overwrite and not isinstance(x, np.ndarray):
        raise TypeError("overwrite=True needs x to be a NumPy array")
    arr, shape = _columns(raw, vec_shape)
    if raw.dtype.kind == "c":
        if overwrite and x.flags.c_contiguous and x.flags.writeable:
            if arr.shape[1]:
                # NumPy (N0, N1, N2, m) is Julia (m, N2, N1, N0): transform dims 2:4 in place.
                grid = x.reshape(shape + (x.shape[1],))
                _julia.call("centered_fft", grid, grid, 2, 4, 1, 1.0 / int(np.prod(shape)))
            return x
        result = _column_transform(arr, shape, inverse=True)
    else:
        result = _column_transform(arr, shape, inverse=True).real
    if overwrite:
        x[...] = result
        return x
    return np.ascontiguousarray(result, dtype=raw.dtype)


# ---------------------------------------------------------------------------------------------
# Products
# ---------------------------------------------------------------------------------------------

def broadcast_dot(x, y):
    """``Σ_k conj(x[..., k]) · y[..., k]`` over the last axis (leading axes broadcast)."""
    x = _array(x, "x")
    y = _array(y, "y")
    if x.ndim == 0 or y.ndim == 0 or x.shape[-1] != y.shape[-1]:
        raise ValueError(f"x and y must share their last axis, got {x.shape} and {y.shape}")
    return np.asarray(np.matmul(_conj(x)[..., None, :], y[..., :, None])[..., 0, 0])


def broadcast_outer(x, y):
    """``out[..., i, j] = x[..., i] · conj(y[..., j])`` (leading axes broadcast)."""
    x = _array(x, "x")
    y = _array(y, "y")
    if x.ndim == 0 or y.ndim == 0:
        raise ValueError(f"x and y must have at least one dimension, got {x.shape} and {y.shape}")
    try:
        batch = np.broadcast_shapes(x.shape[:-1], y.shape[:-1])
    except ValueError:
        raise ValueError(f"the leading axes of x {x.shape} and y {y.shape} do not broadcast") from None
    itemsize = np.result_type(x.dtype, y.dtype).itemsize
    V.check_memory(int(np.prod(batch, dtype=object)) * x.shape[-1] * y.shape[-1] * itemsize, "the outer products")
    return np.matmul(x[..., :, None], _conj(y)[..., None, :])


def inner_product(x, y):
    """Conjugate-first inner product of two arrays of the same shape (0-d array)."""
    x = _array(x, "x")
    y = _array(y, "y")
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same shape, got {x.shape} and {y.shape}")
    return np.asarray(np.vdot(x, y))


def batch_inner_product(x, y):
    """Conjugate inner product per item of the leading axis: (B, ...) × (B, ...) → (B,)."""
    x = _array(x, "x")
    y = _array(y, "y")
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same shape, got {x.shape} and {y.shape}")
    if x.ndim < 2:
        raise ValueError(f"batch_inner_product expects batched input with ndim >= 2, got shape {x.shape}")
    per_item = int(np.prod(x.shape[1:]))
    xf = x.reshape(x.shape[0], per_item)
    yf = y.reshape(y.shape[0], per_item)
    return np.einsum("bi,bi->b", _conj(xf), yf)


def half_spectrum_last_axis_weights(last_axis_size, dtype=np.float32):
    """Column weights of an rfft-packed axis of full length n, length n//2+1: 1 for self-paired
    columns (0 and, for even n, Nyquist), 2 for columns whose partner is not stored."""
    n = V.integer(last_axis_size, "last_axis_size", minimum=1)
    V.check_memory(8 * n, "the weights")
    m = n // 2 + 1
    w = np.ones((m,), dtype=V.float_dtype(dtype, "dtype"))
    if n % 2 == 0:
        w[1:-1] = 2
    else:
        w[1:] = 2
    return w


def rfft2_hermitian_weights(image_shape, dtype=np.float32):
    """``sqrt(w)`` of :func:`half_spectrum_last_axis_weights` tiled over H rows → (H·(W//2+1),).

    Caveat (as in recovar): ``Σ (√w a)* (√w b)`` reproduces only the **real part** of the full
    inner product; interior columns contribute 2q instead of q + conj(q).
    """
    shape = V.shape_tuple(image_shape, "image_shape")
    if len(shape) < 2:
        raise ValueError(f"image_shape must have 2 dims, got {shape}")
    H, W = shape[0], shape[1]
    V.check_memory(8 * H * (W // 2 + 1), "the weights")
    return np.tile(np.sqrt(half_spectrum_last_axis_weights(W, dtype=dtype)), H)


def _half_grid(arr, full_shape, name):
    shape = V.shape_tuple(full_shape, "full_shape")
    if len(shape) not in (2, 3):
        raise ValueError(f"full_shape must have 2 or 3 dims, got {shape}")
    half_shape = ftu.get_real_fft_packed_shape(shape)
    arr = _array(arr, name)
    flat = int(np.prod(half_shape))
    k = len(half_shape)
    if arr.shape == half_shape:
        return arr, shape
    if arr.ndim == 1 and arr.shape[0] == flat:
        return arr.reshape(half_shape), shape
    if arr.ndim == k + 1 and arr.shape[1:] == half_shape:
        return arr, shape
    if arr.ndim == 2 and arr.shape[1] == flat:
        return arr.reshape((arr.shape[0],) + half_shape), shape
    raise ValueError(f"{name} must be half-spectrum grid {half_shape}, flat ({flat},), batched grid "
                     f"(B, *{half_shape}) or batched flat (B, {flat}); got {arr.shape}")


def _weighted_half_sum(x, y, shape, batched):
    w = half_spectrum_last_axis_weights(shape[-1], dtype=np.float64)
    q = _conj(x) * y
    edge = q[..., w == 1]
    interior = q[..., w == 2]
    axes = tuple(range(1 if batched else 0, q.ndim))
    return np.asarray(edge.sum(axis=axes) + (interior + _conj(interior)).sum(axis=axes))


def half_spectrum_inner_product(x_half, y_half, full_shape):
    """Full-spectrum inner product from packed half spectra (2-D/3-D, grid or flat, one item):
    ``Σ_{w=1} q + Σ_{w=2} (q + conj q)``, ``q = conj(x)·y`` — exact for spectra of real signals."""
    x, shape = _half_grid(x_half, full_shape, "x_half")
    y, _ = _half_grid(y_half, full_shape, "y_half")
    if x.shape != y.shape:
        raise ValueError(f"x_half and y_half must have matching shapes, got {x.shape} and {y.shape}")
    if x.ndim != len(shape):
        raise ValueError(f"half_spectrum_inner_product expects one item of {len(shape)} dims, got {x.shape}; "
                         "use batch_half_spectrum_inner_product for batches")
    return _weighted_half_sum(x, y, shape, batched=False)


def batch_half_spectrum_inner_product(x_half, y_half, full_shape):
    """:func:`half_spectrum_inner_product` per item: (B, *half) or (B, flat) → (B,)."""
    x, shape = _half_grid(x_half, full_shape, "x_half")
    y, _ = _half_grid(y_half, full_shape, "y_half")
    if x.shape != y.shape:
        raise ValueError(f"x_half and y_half must have matching shapes, got {x.shape} and {y.shape}")
    if x.ndim != len(shape) + 1:
        raise ValueError(f"batch_half_spectrum_inner_product expects batched input of {len(shape) + 1} dims, "
                         f"got {x.shape}")
    return _weighted_half_sum(x, y, shape, batched=True)


def multiply_along_axis(A, B, axis):
    """A scaled by the 1-D B along `axis`: ``A[..., i, ...] · B[i]``."""
    A = _array(A, "A")
    B = _array(B, "B")
    if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, numbers.Integral):
        raise TypeError(f"axis must be an integer, got {axis!r}")
    if not -A.ndim <= axis < A.ndim:
        raise ValueError(f"axis {axis} out of range for A of shape {A.shape}")
    moved = np.swapaxes(A, axis, -1)
    try:
        np.broadcast_shapes(moved.shape, B.shape)
    except ValueError:
        raise ValueError(f"B of shape {B.shape} cannot scale axis {axis} of A (shape {A.shape})") from None
    return np.swapaxes(moved * B, -1, axis)


# ---------------------------------------------------------------------------------------------
# Solvers and distances
# ---------------------------------------------------------------------------------------------

def _system(A, b):
    A = V.numeric_array(A, "A")
    b = V.numeric_array(b, "b")
    if A.ndim < 2 or A.shape[-1] != A.shape[-2]:
        raise ValueError(f"A must be a (batch of) square matrices (..., n, n), got {A.shape}")
    n = A.shape[-1]
    if b.ndim == A.ndim and b.shape[-2] == n:
        return A, b, False
    if b.ndim >= 1 and b.ndim in (A.ndim - 1, 1) and b.shape[-1] == n:
        return A, b[..., None], True
    raise ValueError(f"b must have shape (..., {n}) or (..., {n}, k) to match A of shape {A.shape}, got {b.shape}")


def batch_linear_solver(A, b):
    """Solve ``A x = b`` per batch item (LAPACK LU): A (..., n, n), b (..., n) or (..., n, k)."""
    A, b, vector = _system(A, b)
    try:
        x = np.linalg.solve(A, b)
    except np.linalg.LinAlgError as exc:  # a ValueError; recovar (JAX) returns inf/NaN instead
        raise np.linalg.LinAlgError(f"A is singular: {exc}") from None
    return x[..., 0] if vector else x


def batch_hermitian_linear_solver(A, b):
    """Solve ``A x = b`` for Hermitian positive-definite A per batch item (shapes as
    :func:`batch_linear_solver`)."""
    return batch_linear_solver(A, b)


def solve_by_SVD(A, b, hermitian=False):
    """``x = V diag(1/S) Uᴴ b`` from the SVD of square A (..., n, n), no regularisation;
    b (..., n) or (..., n, k). `hermitian` is ignored (as in recovar)."""
    A, b, vector = _system(A, b)
    U, S, Vh = np.linalg.svd(A)
    Uhb = np.matmul(np.conj(np.swapaxes(U, -1, -2)), b) / S[..., None]
    x = np.matmul(np.conj(np.swapaxes(Vh, -1, -2)), Uhb)
    return x[..., 0] if vector else x


def l2_distance(X, Y):
    """Squared distances ``|x|² − 2 Re(conj(x)·y) + |y|²`` between rows: X (m, d), Y (k, d) → real (m, k)."""
    X = _array(X, "X", ndim=2)
    Y = _array(Y, "Y", ndim=2)
    if X.shape[1] != Y.shape[1]:
        raise ValueError(f"X and Y must have the same number of columns, got {X.shape} and {Y.shape}")
    V.check_memory(3 * X.shape[0] * Y.shape[0] * 16, "the distance matrix")
    x_norm = np.sum(np.abs(X) ** 2, axis=-1, keepdims=True)
    y_norm = np.sum(np.abs(Y) ** 2, axis=-1)[None, :]
    return np.real(x_norm - 2 * (_conj(X) @ Y.T) + y_norm)
