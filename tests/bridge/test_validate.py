"""recovar_jl._validate: the one set of argument rules every core module uses (NumPy only, no Julia)."""
import numpy as np
import pytest

from recovar_jl import _validate as v
from recovar_jl.rotations import random_rotations


@pytest.mark.parametrize("value, expected", [
    (True, True), (False, False), (np.bool_(True), True), (0, False), (1, True), (np.int64(1), True),
    (np.uint8(0), False), (np.array(True), True), (np.array(0), False)])
def test_flag_accepts_bools_and_zero_or_one(value, expected):
    out = v.flag(value, "half_image")
    assert out is expected


@pytest.mark.parametrize("value", [2, -1, 1.0, np.float64(0.0), "yes", None, np.zeros(0), np.array([1]),
                                   np.array(2)])
def test_flag_refuses_everything_else_naming_the_argument(value):
    with pytest.raises(TypeError, match="half_image must be True or False"):
        v.flag(value, "half_image")


def test_number_keeps_the_type_and_turns_0d_arrays_into_numpy_scalars():
    assert type(v.number(3, "x")) is int
    assert type(v.number(np.float32(2.5), "x")) is np.float32
    out = v.number(np.array(2.0), "x")
    assert type(out) is np.float64 and out == 2.0


@pytest.mark.parametrize("value", [True, np.bool_(False), 1j, "1.0", b"1", None, [1.0], np.ones(2), np.array("a")])
def test_number_refuses_non_reals_naming_the_argument(value):
    with pytest.raises(TypeError, match="radius must be a real number"):
        v.number(value, "radius")


def test_real_number_refuses_nan_always_and_inf_unless_allowed():
    with pytest.raises(ValueError, match="epsilon must not be NaN"):
        v.real_number(float("nan"), "epsilon", finite=False)
    with pytest.raises(ValueError, match="radius must be finite"):
        v.real_number(np.inf, "radius")
    assert v.real_number(-np.inf, "epsilon", finite=False) == -np.inf
    assert v.real_number(None, "extend", allow_none=True) is None
    with pytest.raises(TypeError, match="extend"):
        v.real_number(None, "extend")


@pytest.mark.parametrize("value, expected", [(3, 3), (np.int32(-2), -2), (4.0, 4), (np.float32(5), 5),
                                             (np.array(6), 6), (np.array(7.0), 7)])
def test_integer_accepts_integral_values(value, expected):
    out = v.integer(value, "n")
    assert out == expected and type(out) is int


@pytest.mark.parametrize("value", [True, 2.5, float("inf"), float("nan"), "3", None, np.array([3])])
def test_integer_refuses_non_integers(value):
    with pytest.raises(TypeError, match="n must be an integer"):
        v.integer(value, "n")


def test_integer_minimum_names_the_bound():
    with pytest.raises(ValueError, match="n must be positive"):
        v.integer(0, "n", minimum=1)
    with pytest.raises(ValueError, match="padding must be non-negative"):
        v.integer(-1, "padding", minimum=0)
    with pytest.raises(ValueError, match="k must be >= 3"):
        v.integer(2, "k", minimum=3)
    assert v.integer(None, "iter", allow_none=True) is None


def test_voxel_size_keeps_numpy_floats_and_makes_the_rest_python_floats():
    assert type(v.voxel_size(np.float64(1.5))) is np.float64
    assert type(v.voxel_size(np.float32(1.5))) is np.float32
    assert type(v.voxel_size(np.array(2.0))) is np.float64
    assert type(v.voxel_size(2)) is float and type(v.voxel_size(np.int64(2))) is float
    for bad in (0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="voxel_size must be a positive finite number"):
            v.voxel_size(bad)


@pytest.mark.parametrize("value", ["ab", b"ab", bytearray(b"ab"), {1: 2}, None, 4])
def test_shape_tuple_refuses_strings_bytes_dicts_and_scalars(value):
    with pytest.raises(TypeError, match="image_shape"):
        v.shape_tuple(value, "image_shape")


def test_shape_tuple_bounds_the_element_count_unless_told_not_to():
    huge = (2 ** 40,) * 3
    with pytest.raises(ValueError, match="2\\*\\*63"):
        v.shape_tuple(huge, "volume_shape")
    assert v.shape_tuple(huge, "volume_shape", length=3, bounded=False) == huge
    assert v.shape_tuple(np.array([4, 4]), "image_shape", length=2) == (4, 4)


def test_square_image_shape():
    assert v.square_image_shape([6, 6]) == (6, 6)
    with pytest.raises(ValueError, match="image_shape must be square"):
        v.square_image_shape((4, 6))


def test_rotations_checks_the_shape_before_finiteness():
    one = np.eye(3, dtype=np.float32)
    assert v.rotations(one, batched=False).shape == (1, 3, 3)
    assert v.rotations(one[None]).dtype == np.float32
    bad = np.full((2, 3), np.nan)
    with pytest.raises(ValueError, match=r"rotation_matrices must have shape \(n, 3, 3\)"):
        v.rotations(bad)
    with pytest.raises(ValueError, match="rotation_matrices contains NaN"):
        v.rotations(np.full((1, 3, 3), np.nan))


# ---- random_rotations ---------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_random_rotations_are_proper_rotations(dtype):
    R = random_rotations(200, 3, dtype)
    assert R.shape == (200, 3, 3) and R.dtype == dtype
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(R @ np.swapaxes(R, 1, 2), np.broadcast_to(np.eye(3), R.shape), atol=tol)
    np.testing.assert_allclose(np.linalg.det(R.astype(np.float64)), 1.0, atol=tol)


def test_random_rotations_are_reproducible_from_a_seed_or_a_generator():
    np.testing.assert_array_equal(random_rotations(5, 7), random_rotations(5, np.random.default_rng(7)))
    assert random_rotations(0, 1).shape == (0, 3, 3)
    rng = np.random.default_rng(1)
    random_rotations(4, rng)
    assert rng.standard_normal() == pytest.approx(_after_draws(1, (4, 4)))


def _after_draws(seed, shape):
    rng = np.random.default_rng(seed)
    rng.standard_normal(shape)
    return rng.standard_normal()


def test_random_rotations_are_uniform_on_so3():
    # Haar measure: E[R] = 0 and E[R_ij²] = 1/3; the rotation angle θ has density (1 − cos θ)/π,
    # so E[cos θ] = E[(tr R − 1)/2] = −1/2.
    R = random_rotations(20000, 11)
    assert np.abs(R.mean(axis=0)).max() < 0.02
    np.testing.assert_allclose((R ** 2).mean(axis=0), np.full((3, 3), 1 / 3), atol=0.01)
    cos_theta = (np.trace(R, axis1=1, axis2=2) - 1) / 2
    assert abs(cos_theta.mean() + 0.5) < 0.02


def test_float_dtype_accepts_floating_kinds_only():
    assert v.float_dtype("float32", "dtype") == np.float32
    assert v.float_dtype(np.complex64, "dtype") == np.complex64
    with pytest.raises(TypeError, match="dtype_real must be a real floating dtype"):
        v.float_dtype(np.complex64, "dtype_real", kinds="f")
    with pytest.raises(TypeError, match="dtype must be a floating dtype"):
        v.float_dtype(np.int32, "dtype")
    with pytest.raises(TypeError, match="dtype must be a NumPy floating dtype"):
        v.float_dtype("no such type", "dtype")
