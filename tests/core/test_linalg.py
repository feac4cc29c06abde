"""recovar_jl.core.linalg: parity with recovar 1.0.5, algebraic identities, edge cases."""
import functools

import numpy as np
import pytest

from conftest import assert_close, load_fixture
import generators
from recovar_jl.core import fourier_transform_utils as ftu
from recovar_jl.core import linalg as la

FIX = load_fixture("linalg")
crandn = functools.partial(generators.crandn, dtype=np.complex64)


def fx(case, field="output"):
    return FIX[f"{case}__{field}"]


# --- parity with recovar ------------------------------------------------------------------

def test_blockwise_products_match_recovar():
    assert_close(la.blockwise_Y_T_X(fx("Y_T_X", "Y"), fx("Y_T_X", "X"), batch_size=7), fx("Y_T_X"))
    assert_close(la.blockwise_Y_T_X(fx("Y_T_X_auto", "Y"), fx("Y_T_X_auto", "X")), fx("Y_T_X_auto"))
    assert_close(la.blockwise_X_T_X(fx("X_T_X", "X"), batch_size=9), fx("X_T_X"))
    assert_close(la.blockwise_A_X(fx("A_X", "A"), fx("A_X", "X"), batch_size=6), fx("A_X"))
    out = la.blockwise_A_X(fx("A_X_real", "A"), fx("A_X_real", "X"))
    assert out.dtype == fx("A_X_real").dtype == np.float64
    assert_close(out, fx("A_X_real"))


def _same_columns_up_to_phase(a, b):
    """Columns equal up to a unit complex factor each (eigenvector phases are arbitrary)."""
    for j in range(a.shape[1]):
        if np.linalg.norm(b[:, j]) < 1e-12:
            assert np.linalg.norm(a[:, j]) < 1e-8
            continue
        phase = np.vdot(a[:, j], b[:, j])
        phase /= abs(phase)
        np.testing.assert_allclose(a[:, j] * phase, b[:, j], atol=1e-8)


def test_thin_svd_matches_recovar_up_to_vector_phases():
    U, s, V = la.thin_svd(fx("thin_svd", "X"))
    np.testing.assert_allclose(s, fx("thin_svd", "s"), rtol=1e-10)
    _same_columns_up_to_phase(U, fx("thin_svd", "U"))
    _same_columns_up_to_phase(V, fx("thin_svd", "V"))
    U, s, Vh = la.thin_svd_in_blocks(fx("thin_svd_in_blocks", "X"), n_components=4)
    assert U.shape == (30, 4) and s.shape == (4,) and Vh.shape == (4, 6)
    np.testing.assert_allclose(s, fx("thin_svd_in_blocks", "s"), rtol=1e-10)
    _same_columns_up_to_phase(U, fx("thin_svd_in_blocks", "U"))
    _same_columns_up_to_phase(Vh.conj().T, fx("thin_svd_in_blocks", "Vh").conj().T)


def test_randomized_svd_matches_recovar_with_the_same_global_seed():
    A = fx("randomized_svd", "A")
    np.random.seed(7)
    QU, S, Vh = la.randomized_svd(A, n_pcs=5)
    assert QU.shape == (40, 5) and S.shape == (5,) and Vh.shape == (12, 12)
    np.testing.assert_allclose(S, fx("randomized_svd", "S"), rtol=1e-10)
    ref = fx("randomized_svd", "QU") @ np.diag(fx("randomized_svd", "S")) @ fx("randomized_svd", "Vh")[:5]
    np.testing.assert_allclose(QU @ np.diag(S) @ Vh[:5], ref, atol=1e-10)


@pytest.mark.parametrize("tag", ["4x5x6", "6x6x6", "5x5x3"])
def test_column_dfts_match_recovar(tag):
    shape = tuple(int(v) for v in fx(f"dft3_{tag}", "vec_shape"))
    for name, fn in [(f"dft3_{tag}", lambda x: la.dft3(x, shape)), (f"idft3_{tag}", lambda x: la.idft3(x, shape)),
                     (f"batch_dft3_{tag}", lambda x: la.batch_dft3(x, shape, 2)),
                     (f"batch_idft3_{tag}", lambda x: la.batch_idft3(x, shape, 2))]:
        out = fn(fx(name, "input"))
        assert out.dtype == fx(name).dtype == np.complex64, name
        assert_close(out, fx(name), name=name)


def test_batch_dft3_is_complex64_and_batch_idft3_keeps_real_dtype_like_recovar():
    out = la.batch_dft3(fx("batch_dft3_real", "input"), (4, 5, 6), 1)
    assert out.dtype == np.complex64
    assert_close(out, fx("batch_dft3_real"))
    out = la.batch_dft3(fx("batch_dft3_complex128", "input"), (4, 5, 6), 1)
    assert out.dtype == np.complex64
    assert_close(out, fx("batch_dft3_complex128"))
    out = la.batch_idft3(fx("batch_idft3_real", "input"), (4, 5, 6), 1)
    assert out.dtype == np.float32
    assert_close(out, fx("batch_idft3_real"))


def test_products_match_recovar():
    x, y = fx("broadcast_dot", "x"), fx("broadcast_dot", "y")
    assert_close(la.broadcast_dot(x, y), fx("broadcast_dot"))
    assert_close(la.broadcast_outer(x, y), fx("broadcast_outer"))
    assert_close(la.inner_product(x, y), fx("inner_product"))
    assert_close(la.batch_inner_product(x, y), fx("batch_inner_product"))
    assert_close(la.multiply_along_axis(fx("multiply_along_axis", "A"), fx("multiply_along_axis", "B"), 1),
                 fx("multiply_along_axis"))


@pytest.mark.parametrize("n", [8, 7, 2, 1])
def test_half_spectrum_weights_match_recovar(n):
    w = la.half_spectrum_last_axis_weights(n)
    assert w.dtype == np.float32
    np.testing.assert_array_equal(w, fx(f"weights_{n}"))
    assert la.half_spectrum_last_axis_weights(8, dtype=np.float64).dtype == fx("weights_8_float64").dtype


@pytest.mark.parametrize("shape", [(6, 8), (5, 7)])
def test_rfft2_hermitian_weights_match_recovar(shape):
    tag = "x".join(map(str, shape))
    np.testing.assert_array_equal(la.rfft2_hermitian_weights(shape), fx(f"rfft2_weights_{tag}"))


@pytest.mark.parametrize("full_shape", [(6, 8), (5, 7), (4, 6, 6), (3, 5, 5)])
def test_half_spectrum_inner_products_match_recovar_grid_and_flat(full_shape):
    tag = "x".join(map(str, full_shape))
    for name, fn in [(f"half_ip_{tag}", la.half_spectrum_inner_product),
                     (f"half_ip_flat_{tag}", la.half_spectrum_inner_product),
                     (f"batch_half_ip_{tag}", la.batch_half_spectrum_inner_product),
                     (f"batch_half_ip_flat_{tag}", la.batch_half_spectrum_inner_product)]:
        out = fn(fx(name, "x"), fx(name, "y"), full_shape)
        assert out.shape == fx(name).shape, name
        assert_close(out, fx(name), name=name)


def test_solvers_match_recovar():
    for name, fn in [("hermitian_solve_vector", la.batch_hermitian_linear_solver),
                     ("hermitian_solve_matrix", la.batch_hermitian_linear_solver),
                     ("linear_solve_matrix", la.batch_linear_solver),
                     ("svd_solve_vector", la.solve_by_SVD), ("svd_solve_matrix", la.solve_by_SVD)]:
        assert_close(fn(fx(name, "A"), fx(name, "b")), fx(name), rtol=1e-10, name=name)


def test_l2_distance_matches_recovar():
    out = la.l2_distance(fx("l2_distance", "X"), fx("l2_distance", "Y"))
    assert out.dtype == np.float32
    assert_close(out, fx("l2_distance"))


# --- identities -------------------------------------------------------------------------------

def test_blockwise_results_do_not_depend_on_the_block_size(rng):
    Y, X = crandn(rng, 37, 4, dtype=np.complex128), crandn(rng, 37, 3, dtype=np.complex128)
    for bs in (1, 5, 37, 100):
        np.testing.assert_allclose(la.blockwise_Y_T_X(Y, X, batch_size=bs), Y.conj().T @ X, atol=1e-12)
        np.testing.assert_allclose(la.blockwise_X_T_X(X, batch_size=bs), X.conj().T @ X, atol=1e-12)
        np.testing.assert_allclose(la.blockwise_A_X(Y, Y.conj().T @ X, batch_size=bs), Y @ (Y.conj().T @ X),
                                   atol=1e-12)
    assert la.batch_st_end(2, 10, 25) == (20, 25)
    assert la.batch_st_end(0, 10.0, 25) == (0, 10)


def test_thin_svd_reconstructs_x_with_descending_singular_values(rng):
    X = crandn(rng, 20, 5, dtype=np.complex128)
    U, s, V = la.thin_svd(X)
    assert np.all(np.diff(s) <= 0)
    np.testing.assert_allclose(U @ np.diag(s) @ V.conj().T, X, atol=1e-10)
    np.testing.assert_allclose(s, np.linalg.svd(X, compute_uv=False), rtol=1e-10)
    U2, s2, Vh2 = la.thin_svd_in_blocks(X)
    assert U2.shape == (20, 5)   # n_components defaults to X.shape[0], clipped by the 5 columns
    np.testing.assert_allclose(U2 @ np.diag(s2) @ Vh2, X, atol=1e-10)


def test_thin_svd_zeroes_columns_of_tiny_singular_values(rng):
    X = np.outer(rng.standard_normal(10), rng.standard_normal(3))   # rank 1
    U, s, V = la.thin_svd(X, epsilon=1e-6)
    assert np.all(U[:, 1:] == 0)
    np.testing.assert_allclose(U[:, :1] * s[0] @ V[:, :1].T, X, atol=1e-10)


def test_randomized_svd_recovers_a_low_rank_matrix(rng):
    A = rng.standard_normal((50, 4)) @ rng.standard_normal((4, 30))
    QU, S, Vh = la.randomized_svd(A, n_pcs=6)
    np.testing.assert_allclose(QU @ np.diag(S) @ Vh[:6], A, atol=1e-9)
    assert la.randomized_svd(A, n_pcs=100)[1].shape == (30,)   # n_pcs clipped to A.shape[1]


@pytest.mark.parametrize("shape", [(4, 5, 6), (7, 7, 7)])
def test_column_dfts_equal_dft3_of_each_column_and_invert(rng, shape):
    x = crandn(rng, int(np.prod(shape)), 3)
    out = la.dft3(x, shape)
    for j in range(3):
        assert_close(out[:, j], ftu.get_dft3(x[:, j].reshape(shape)).reshape(-1))
    assert_close(la.idft3(out, shape), x)
    assert_close(la.batch_idft3(la.batch_dft3(x, shape, 2), shape, 1), x)


def test_batch_idft3_overwrite_works_in_place_and_otherwise_leaves_x_alone(rng):
    shape = (4, 4, 6)
    x = crandn(rng, 96, 5)
    keep = x.copy()
    expected = la.idft3(x, shape)
    out = la.batch_idft3(x, shape, 2)
    np.testing.assert_array_equal(x, keep)
    assert_close(out, expected)
    same = la.batch_idft3(x, shape, 2, overwrite=True)
    assert same is x
    assert_close(x, expected)
    real = rng.standard_normal((96, 2))
    back = la.batch_idft3(real, shape, 1, overwrite=True)
    assert back is real and back.dtype == np.float64
    strided = crandn(rng, 96, 10)[:, ::2]
    ref = la.idft3(np.ascontiguousarray(strided), shape)
    la.batch_idft3(strided, shape, 3, overwrite=True)
    assert_close(strided, ref)


def test_large_column_dft_uses_the_two_stage_path(rng):
    shape = (40, 36, 32)
    x = crandn(rng, int(np.prod(shape)), 3)
    out = la.dft3(x, shape)
    assert_close(out[:, 1], ftu.get_dft3(x[:, 1].reshape(shape)).reshape(-1))
    assert_close(la.batch_idft3(out, shape, 3, overwrite=True), x)


def test_half_spectrum_inner_product_equals_full_product_for_real_signals(rng):
    for shape in [(6, 8), (5, 7), (4, 6, 5)]:
        a, b = rng.standard_normal(shape), rng.standard_normal(shape)
        fa, fb = ftu.get_dft3(a, axes=range(len(shape))), ftu.get_dft3(b, axes=range(len(shape)))
        ha, hb = (ftu.get_dft3_real(v) if len(shape) == 3 else ftu.get_dft2_real(v) for v in (a, b))
        assert_close(la.half_spectrum_inner_product(ha, hb, shape), np.vdot(fa, fb), rtol=1e-10)
        batch = la.batch_half_spectrum_inner_product(np.stack([ha, hb]), np.stack([hb, hb]), shape)
        assert_close(batch, [np.vdot(fa, fb), np.vdot(fb, fb)], rtol=1e-10)


def test_rfft2_weights_give_only_the_real_part_of_the_full_product(rng):
    # The √w caveat: Σ (√w a)*(√w b) = Re <A, B> only; interior columns give 2q, not 2 Re q.
    shape = (6, 8)
    a, b = rng.standard_normal(shape), rng.standard_normal(shape)
    ha, hb = ftu.get_dft2_real(a).ravel(), ftu.get_dft2_real(b).ravel()
    w = la.rfft2_hermitian_weights(shape, dtype=np.float64)
    full = np.vdot(ftu.get_dft2(a), ftu.get_dft2(b))
    weighted = np.vdot(w * ha, w * hb)
    assert weighted.real == pytest.approx(full.real, rel=1e-10)
    c = generators.crandn(rng, *shape)   # complex signal: not Hermitian
    hc = ftu.full_image_to_half_image(ftu.get_dft2(c), shape).ravel()
    assert abs(np.vdot(w * hc, w * hb).imag - np.vdot(ftu.get_dft2(c), ftu.get_dft2(b)).imag) > 1e-6


def test_weights_by_hand():
    assert la.half_spectrum_last_axis_weights(8).tolist() == [1, 2, 2, 2, 1]
    assert la.half_spectrum_last_axis_weights(7).tolist() == [1, 2, 2, 2]
    assert la.half_spectrum_last_axis_weights(2).tolist() == [1, 1]
    assert la.half_spectrum_last_axis_weights(1).tolist() == [1]


def test_broadcast_products_and_inner_products_by_definition(rng):
    x, y = crandn(rng, 2, 3, 4), crandn(rng, 2, 3, 4)
    assert_close(la.broadcast_dot(x, y), np.sum(np.conj(x) * y, axis=-1))
    assert_close(la.broadcast_outer(x, y), x[..., :, None] * np.conj(y[..., None, :]))
    assert_close(la.broadcast_dot(x, y[0]), np.sum(np.conj(x) * y[0], axis=-1))   # leading axes broadcast
    ip = la.inner_product(x, y)
    assert isinstance(ip, np.ndarray) and ip.shape == ()
    assert_close(la.batch_inner_product(x, y), [np.vdot(x[0], y[0]), np.vdot(x[1], y[1])])


def test_solvers_solve_and_accept_vector_or_matrix_right_hand_sides(rng):
    A = crandn(rng, 5, 3, 3, dtype=np.complex128) + 3 * np.eye(3)
    H = A @ np.conj(np.swapaxes(A, -1, -2))
    b = crandn(rng, 5, 3, dtype=np.complex128)
    for fn, M in [(la.batch_linear_solver, A), (la.batch_hermitian_linear_solver, H), (la.solve_by_SVD, A)]:
        x = fn(M, b)
        assert x.shape == (5, 3)
        np.testing.assert_allclose(np.einsum("bij,bj->bi", M, x), b, atol=1e-10)
        X = fn(M, b[..., None])
        assert X.shape == (5, 3, 1)
    single = la.batch_linear_solver(A[0], b[0])
    np.testing.assert_allclose(A[0] @ single, b[0], atol=1e-10)


def test_l2_distance_by_definition(rng):
    X, Y = crandn(rng, 4, 3, dtype=np.complex128), crandn(rng, 5, 3, dtype=np.complex128)
    expected = np.array([[np.sum(np.abs(x - y) ** 2) for y in Y] for x in X])
    np.testing.assert_allclose(la.l2_distance(X, Y), expected, atol=1e-10)


def test_empty_inputs(rng):
    assert la.blockwise_X_T_X(np.zeros((0, 3))).shape == (3, 3)
    assert la.dft3(np.zeros((24, 0), np.complex64), (2, 3, 4)).shape == (24, 0)
    assert la.batch_inner_product(np.zeros((0, 2)), np.zeros((0, 2))).shape == (0,)


# --- bad input ----------------------------------------------------------------------------

def test_bad_input_raises_errors_naming_the_argument():
    with pytest.raises(ValueError, match="X"):
        la.blockwise_X_T_X(np.zeros(3))
    with pytest.raises(ValueError, match="rows"):
        la.blockwise_Y_T_X(np.zeros((3, 2)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="batch_size"):
        la.blockwise_X_T_X(np.zeros((3, 2)), batch_size=0)
    with pytest.raises(ValueError, match="vec_shape"):
        la.dft3(np.zeros((24, 2)), (2, 3))
    with pytest.raises(ValueError, match="x must have shape"):
        la.dft3(np.zeros((25, 2)), (2, 3, 4))
    with pytest.raises(ValueError, match="x.*NaN"):
        la.batch_dft3(np.full((24, 1), np.nan), (2, 3, 4), 1)
    with pytest.raises(TypeError, match="x"):
        la.batch_idft3(np.zeros((24, 1), np.int32), (2, 3, 4), 1)
    with pytest.raises(ValueError, match="batch_size"):
        la.batch_idft3(np.zeros((24, 1)), (2, 3, 4), 0)
    with pytest.raises(ValueError, match="same shape"):
        la.inner_product(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="ndim"):
        la.batch_inner_product(np.zeros(3), np.zeros(3))
    with pytest.raises(ValueError, match="last_axis_size"):
        la.half_spectrum_last_axis_weights(0)
    with pytest.raises(ValueError, match="full_shape"):
        la.half_spectrum_inner_product(np.zeros(5), np.zeros(5), (8,))
    with pytest.raises(ValueError, match="x_half"):
        la.half_spectrum_inner_product(np.zeros(7), np.zeros(7), (6, 8))
    with pytest.raises(ValueError, match="batch"):
        la.half_spectrum_inner_product(np.zeros((2, 30)), np.zeros((2, 30)), (6, 8))
    with pytest.raises(ValueError, match="A must be"):
        la.batch_linear_solver(np.zeros((3, 2)), np.zeros(3))
    with pytest.raises(ValueError, match="b must have"):
        la.solve_by_SVD(np.eye(3), np.zeros(4))
    with pytest.raises(TypeError, match="A"):
        la.batch_linear_solver(np.array([[object()]]), np.zeros(1))
    with pytest.raises(ValueError, match="columns"):
        la.l2_distance(np.zeros((2, 3)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match="n_pcs"):
        la.randomized_svd(np.zeros((4, 3)), n_pcs=0)
    with pytest.raises(ValueError, match="axis"):
        la.multiply_along_axis(np.zeros((2, 3)), np.zeros(3), 2)
    with pytest.raises(ValueError, match="B of shape"):   # NumPy's own message named neither A nor B
        la.multiply_along_axis(np.zeros((4, 4)), np.zeros(0), 0)


def test_multiply_along_axis_scales_each_slice_and_broadcasts_a_length_one_B(rng):
    A = rng.standard_normal((3, 4, 5))
    B = rng.standard_normal(4)
    np.testing.assert_array_equal(la.multiply_along_axis(A, B, 1), A * B[None, :, None])
    np.testing.assert_array_equal(la.multiply_along_axis(A, np.array([2.0]), -1), 2.0 * A)
    assert la.multiply_along_axis(np.zeros((0, 4)), np.ones(4), 1).shape == (0, 4)


def test_batch_linear_solver_names_a_singular_A():
    A = np.full((2, 3, 3), 0.5)
    with pytest.raises(np.linalg.LinAlgError, match="A is singular"):
        la.batch_linear_solver(A, np.ones((2, 3)))
