"""recovar_jl.core.cubic_interpolation: parity with recovar 1.0.5 and spline properties."""
import numpy as np
import pytest
from conftest import assert_close, load_fixture
from generators import centered_dft, crandn

from recovar_jl.core.cubic_interpolation import (calculate_spline_coefficients, interpolate_with_spline,
                                                 map_coordinates, map_coordinates_with_cubic_spline)


@pytest.fixture(scope="module")
def fix():
    return load_fixture("cubic_interpolation")


def apply_141(C):
    """The periodic [1, 4, 1] operator along every axis (samples of the spline)."""
    out = np.asarray(C)
    for axis in range(out.ndim):
        out = np.roll(out, 1, axis) + 4 * out + np.roll(out, -1, axis)
    return out


@pytest.mark.parametrize("name", ["d1", "d2", "d3", "d3c"])
def test_coefficients_match_recovar_fixture(fix, name):
    x = fix[f"coefficients__{name}__input"]
    got = calculate_spline_coefficients(x)
    expected = fix[f"coefficients__{name}__output"]
    assert got.dtype == expected.dtype and got.shape == expected.shape
    assert_close(got, expected)


@pytest.mark.parametrize("name", ["d2", "d3"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_evaluation_matches_recovar_fixture(fix, name, dtype):
    key = f"{name}__{dtype}"
    x = fix[f"coefficients__{name}__input"]
    coeffs = calculate_spline_coefficients(x)
    p = fix[f"points__{key}"]
    cases = {
        "interpolate_wrap": interpolate_with_spline(coeffs, list(p)),
        "interpolate_fill": interpolate_with_spline(coeffs, list(p), boundary_mode="fill", fill_value=2.5),
        "map_spline_array": map_coordinates_with_cubic_spline(coeffs, p),
        "map_spline_list_constant": map_coordinates_with_cubic_spline(coeffs, list(p), mode="constant", cval=1.5),
        "map_coordinates": map_coordinates(x, p, 3),
    }
    for label, got in cases.items():
        expected = fix[f"{label}__{key}"]
        assert got.shape == expected.shape, label
        assert got.dtype == expected.dtype, f"{label}: {got.dtype} != {expected.dtype}"
        assert_close(got, expected, name=label)


@pytest.mark.parametrize("shape", [(9,), (6, 5), (4, 5, 3), (1, 3), (2,)])
def test_coefficients_solve_the_periodic_141_system(shape):
    rng = np.random.default_rng(len(shape))
    x = crandn(rng, *shape)
    C = calculate_spline_coefficients(x)
    assert_close(apply_141(C), x, rtol=1e-12)
    # the DFT formula of docs/conventions.md §6
    F = x
    for axis, n in enumerate(shape):
        lam = 4 + 2 * np.cos(2 * np.pi * np.arange(n) / n)
        F = np.fft.ifft(np.fft.fft(F, axis=axis) / lam.reshape([-1 if a == axis else 1 for a in range(len(shape))]),
                        axis=axis)
    assert_close(C, F, rtol=1e-12)


def test_real_input_gives_real_coefficients_of_the_same_dtype():
    for dtype in (np.float32, np.float64, np.complex64, np.complex128):
        x = np.arange(12).reshape(3, 4).astype(dtype)
        assert calculate_spline_coefficients(x).dtype == dtype


def test_coefficients_preserve_hermitian_symmetry_of_centered_spectra():
    N = 8
    vol = np.random.default_rng(1).standard_normal((N, N, N))
    spectrum = centered_dft(vol)
    C = calculate_spline_coefficients(spectrum)
    # Hermitian: C[c + k] = conj(C[c - k]) on the interior (indices 1..N-1 for even N)
    inner = C[1:, 1:, 1:]
    assert_close(inner, np.conj(inner[::-1, ::-1, ::-1]), rtol=1e-12)


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_interpolation_reproduces_the_data_at_grid_points(ndim):
    shape = (7, 6, 5)[:ndim]
    data = np.random.default_rng(ndim).standard_normal(shape)
    grid = np.stack(np.meshgrid(*[np.arange(n, dtype=float) for n in shape], indexing="ij"))
    assert_close(map_coordinates(data, grid, 3), data, rtol=1e-12)
    # one period away (wrap)
    shifted = grid + np.array(shape, dtype=float).reshape([-1] + [1] * ndim)
    assert_close(map_coordinates(data, shifted, 3), data, rtol=1e-12)
    # interpolate_with_spline uses the index of map_coordinates_with_cubic_spline minus one
    C = calculate_spline_coefficients(data)
    assert_close(interpolate_with_spline(C, list(grid - 1)), data, rtol=1e-12)


def test_spline_equals_the_basis_sum_at_random_points():
    rng = np.random.default_rng(3)
    C = rng.standard_normal((5, 6))

    def beta(t):
        a = np.abs(t)
        return np.where(a <= 1, 4 - 6 * a ** 2 + 3 * a ** 3, np.where(a <= 2, (2 - a) ** 3, 0.0))

    pts = rng.uniform(-3, 8, size=(2, 20))
    expected = np.zeros(20)
    for p in range(20):
        x, y = pts[:, p]
        for i in range(int(np.floor(x)) - 1, int(np.floor(x)) + 3):
            for j in range(int(np.floor(y)) - 1, int(np.floor(y)) + 3):
                expected[p] += C[i % 5, j % 6] * beta(x - i) * beta(y - j)
    assert_close(map_coordinates_with_cubic_spline(C, pts), expected, rtol=1e-12)


def test_output_takes_the_shape_of_the_coordinates():
    C = np.ones((4, 4))
    coords = np.zeros((2, 3, 5))
    assert map_coordinates_with_cubic_spline(C, coords).shape == (3, 5)
    assert interpolate_with_spline(C, [np.zeros(()), np.zeros(())]).shape == ()
    assert map_coordinates_with_cubic_spline(C, np.zeros((2, 0))).shape == (0,)


def test_bad_arguments():
    C = np.ones((4, 4))
    with pytest.raises(ValueError, match="order"):
        map_coordinates(C, np.zeros((2, 3)), 2)
    with pytest.raises(TypeError, match="order"):
        map_coordinates(C, np.zeros((2, 3)), 1.5)
    with pytest.raises(ValueError, match="coordinate"):
        interpolate_with_spline(C, [np.zeros(3)])
    with pytest.raises(ValueError, match="coordinates"):
        map_coordinates_with_cubic_spline(C, np.zeros((3, 5)))
    with pytest.raises(ValueError, match="coords"):
        interpolate_with_spline(C, [np.zeros(3), np.zeros(4)])
    with pytest.raises(TypeError, match="coords"):
        interpolate_with_spline(C, [np.zeros(3), np.zeros(3, complex)])
    with pytest.raises(TypeError, match="data"):
        calculate_spline_coefficients(np.array(["a", "b"]))
    # the fill value is named as each function calls it
    with pytest.raises(TypeError, match="cval"):
        map_coordinates_with_cubic_spline(C, np.zeros((2, 3)), "constant", None)
    with pytest.raises(TypeError, match="cval"):
        map_coordinates(C, np.zeros((2, 3)), 1, "constant", "x")
    with pytest.raises(TypeError, match="fill_value"):
        interpolate_with_spline(C, [np.zeros(3), np.zeros(3)], "constant", [1.0, 2.0])


@pytest.mark.parametrize("order", [0, 1])
@pytest.mark.parametrize("shape", [(7,), (5, 6), (4, 5, 3)])
def test_low_orders_equal_scipy_periodic_and_constant(order, shape):
    """Orders 0/1 (recovar: NotImplementedError) are SciPy's grid-wrap / grid-constant
    interpolation, exact at integer points."""
    from scipy import ndimage

    rng = np.random.default_rng(len(shape) + 10 * order)
    data = rng.standard_normal(shape)
    pts = rng.uniform(-4, max(shape) + 4, (len(shape), 50))
    for mode, scipy_mode in (("wrap", "grid-wrap"), ("constant", "grid-constant")):
        got = map_coordinates(data, pts, order, mode=mode, cval=0.75)
        want = ndimage.map_coordinates(data, pts, order=order, mode=scipy_mode, cval=0.75)
        assert_close(got, want, rtol=1e-12)
    grid = np.indices(shape).astype(np.float64)
    assert_close(map_coordinates(data, grid, order), data, rtol=1e-15)
    z = (data + 1j * data[::-1]).astype(np.complex64)
    out = map_coordinates(z, list(pts.astype(np.float32)), order)
    assert out.dtype == np.complex64 and out.shape == (50,)
    assert_close(out.real, map_coordinates(z.real, pts.astype(np.float32), order), rtol=1e-6)


def test_low_order_edge_cases():
    data = np.arange(6.0).reshape(2, 3)
    assert map_coordinates(data, np.zeros((2, 0)), 1).shape == (0,)
    assert np.isnan(map_coordinates(data, np.array([[np.nan], [0.0]]), 1)[0])
    # ties go to even, as the nearest-neighbour slicer: 0.5 → 0, 1.5 → 2 (wraps to 0 of 2 rows)
    assert map_coordinates(data, np.array([[0.5, 1.5], [0.0, 0.0]]), 0).tolist() == [0.0, 0.0]
