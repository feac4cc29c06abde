"""recovar_jl.core.indexing: parity with recovar 1.0.5, round trips, clipping, bad input."""
import numpy as np
import pytest

from conftest import load_fixture
from recovar_jl.core import indexing

FIX = load_fixture("indexing")
SHAPES = [(8, 8, 8), (7, 9, 6)]


def tag(shape):
    return "x".join(map(str, shape))


def assert_same(actual, expected):
    actual = np.asarray(actual)
    assert actual.shape == expected.shape and actual.dtype == expected.dtype, (actual.dtype, expected.dtype)
    np.testing.assert_array_equal(actual, expected)


@pytest.mark.parametrize("shape", SHAPES)
def test_conversions_match_recovar_including_out_of_range_indices(shape):
    t = tag(shape)
    vol, vec, freq, ffreq = (FIX[f"{t}__{k}"] for k in ("vol", "vec", "freq", "ffreq"))
    assert_same(indexing.vol_indices_to_vec_indices(vol, shape), FIX[f"{t}__vol_to_vec"])
    assert_same(indexing.vec_indices_to_vol_indices(vec, shape), FIX[f"{t}__vec_to_vol"])
    assert_same(indexing.vol_indices_to_frequencies(vol, shape), FIX[f"{t}__vol_to_freq"])
    assert_same(indexing.frequencies_to_vol_indices(freq, shape), FIX[f"{t}__freq_to_vol"])
    assert_same(indexing.frequencies_to_vol_indices(ffreq, shape), FIX[f"{t}__ffreq_to_vol"])
    assert_same(indexing.vec_indices_to_frequencies(vec, shape), FIX[f"{t}__vec_to_freq"])
    assert_same(indexing.frequencies_to_vec_indices(freq, shape), FIX[f"{t}__freq_to_vec"])


@pytest.mark.parametrize("n", [8, 7])
def test_bound_checks_match_recovar(n):
    assert_same(indexing.check_frequencies_in_bound(FIX["8x8x8__ffreq"], n), FIX[f"bounds{n}__freq_ok"])
    assert_same(indexing.check_vol_indices_in_bound(FIX["8x8x8__vol"], n), FIX[f"bounds{n}__vol_ok"])
    assert_same(indexing.check_vec_indices_in_bound(FIX["8x8x8__vec"], n), FIX[f"bounds{n}__vec_ok"])


def test_distance_to_max_grid_dist_is_ceiling_as_int():
    assert_same(indexing.distance_to_max_grid_dist(FIX["dist__values"]), FIX["dist__expected"])
    assert indexing.distance_to_max_grid_dist(2.3) == 3
    assert isinstance(indexing.distance_to_max_grid_dist(2.3), np.integer)


def test_documented_examples():
    assert indexing.vol_indices_to_vec_indices(np.array([1, 2, 3]), (8, 8, 8)) == 83
    np.testing.assert_array_equal(indexing.vec_indices_to_vol_indices(np.array(511), (8, 8, 8)), [7, 7, 7])
    assert indexing.frequencies_to_vec_indices(np.array([0, 0, 0]), (8, 8, 8)) == 292
    # clipping ravel: (8,0,0) → (7,0,0), (−1,0,0) → (0,0,0)
    np.testing.assert_array_equal(indexing.vol_indices_to_vec_indices(np.array([[8, 0, 0], [-1, 0, 0]]), (8, 8, 8)),
                                  [448, 0])


@pytest.mark.parametrize("shape", [(8, 8, 8), (5, 6, 7), (4, 3)])
def test_round_trips_within_range(shape):
    size = int(np.prod(shape))
    vec = np.arange(size)
    vol = indexing.vec_indices_to_vol_indices(vec, shape)
    assert vol.shape == (size, len(shape))
    np.testing.assert_array_equal(indexing.vol_indices_to_vec_indices(vol, shape), vec)
    freq = indexing.vec_indices_to_frequencies(vec, shape)
    np.testing.assert_array_equal(indexing.frequencies_to_vec_indices(freq, shape), vec)
    if len(set(shape)) == 1:  # the bound checks take one grid size
        assert indexing.check_vol_indices_in_bound(vol, shape[0]).all()
        assert indexing.check_frequencies_in_bound(freq, shape[0]).all()
    # unravel = C order
    np.testing.assert_array_equal(vol, np.stack(np.unravel_index(vec, shape), axis=-1))


def test_dtypes_and_empty_inputs():
    assert indexing.vol_indices_to_vec_indices(np.zeros((2, 3), np.int32), (4, 4, 4)).dtype == np.int32
    assert indexing.vol_indices_to_vec_indices(np.zeros((2, 3), np.int64), (4, 4, 4)).dtype == np.int64
    assert indexing.vol_indices_to_vec_indices(np.zeros((0, 3), np.int64), (4, 4, 4)).shape == (0,)
    assert indexing.vec_indices_to_vol_indices(np.zeros(0, np.int64), (4, 4, 4)).shape == (0, 3)
    assert indexing.vol_indices_to_frequencies(np.zeros((1, 3), np.int32), (4, 4, 4)).dtype == np.int64
    assert indexing.vol_indices_to_frequencies(np.zeros((1, 3), np.float32), (4, 4, 4)).dtype == np.float32
    assert indexing.check_frequencies_in_bound(np.zeros((2, 5, 3)), 4).shape == (2, 5)


def test_bad_input_raises_naming_the_argument():
    with pytest.raises(TypeError, match="vol_indices"):
        indexing.vol_indices_to_vec_indices(np.zeros((2, 3), np.float32), (4, 4, 4))
    with pytest.raises(ValueError, match="vol_indices"):
        indexing.vol_indices_to_vec_indices(np.zeros((2, 2), np.int64), (4, 4, 4))
    with pytest.raises(ValueError, match="vol_shape"):
        indexing.vec_indices_to_vol_indices(np.zeros(2, np.int64), (4, 0, 4))
    with pytest.raises(ValueError, match="vec_indices"):
        indexing.vec_indices_to_vol_indices(np.array([np.nan]), (4, 4, 4))
    with pytest.raises(ValueError, match="grid_size"):
        indexing.check_vol_indices_in_bound(np.zeros((1, 3)), -2)
    with pytest.raises(TypeError, match="frequencies"):
        indexing.frequencies_to_vec_indices(np.zeros((1, 3), np.float64), (4, 4, 4))
