"""Big-endian and unaligned arrays (from files, network buffers, np.frombuffer) behave as native ones.

A big-endian float64 array must compute in float64 like a native one (not silently in
float32); an unaligned C-contiguous array must be copied, not refused by the bridge with a
positional message. Both need `recovar_jl._validate` to normalise byte order and alignment
(see docs/reliability.md, "Open").
"""
import numpy as np
import pytest

from recovar_jl.core import ctf, cubic_interpolation, geometry, slicing

PARAMS = np.array([[15000, 14000, 30, 300, 2.7, 0.1, 0, 10, 1]], dtype=np.float64)
ROT = np.eye(3)[None]
rng = np.random.default_rng(5)
VOLUME = rng.standard_normal(6 ** 3) + 1j * rng.standard_normal(6 ** 3)
IMAGES = rng.standard_normal((2, 36)) + 1j * rng.standard_normal((2, 36))

CALLS = {
    "slice_volume": (lambda vol: slicing.slice_volume(vol, ROT, (6, 6), (6, 6, 6), "linear_interp"), VOLUME),
    "adjoint_slice_volume": (lambda s: slicing.adjoint_slice_volume(s, np.repeat(ROT, 2, 0), (6, 6), (6, 6, 6),
                                                                    "nearest"), IMAGES),
    "CTFEvaluator": (lambda p: ctf.CTFEvaluator()(p, (6, 6), 1.3), PARAMS),
    "evaluate_ctf": (lambda p: ctf.evaluate_ctf(np.full((4, 2), 0.05), p), PARAMS),
    "calculate_spline_coefficients": (cubic_interpolation.calculate_spline_coefficients, VOLUME.real.reshape(6, 6, 6)),
    "translate_images": (lambda im: geometry.translate_images(im, np.ones((2, 2)), (6, 6)), IMAGES),
}


def big_endian(a):
    return np.asarray(a).astype(np.asarray(a).dtype.newbyteorder(">"))


def unaligned(a):
    a = np.ascontiguousarray(a)
    raw = np.zeros(a.nbytes + 1, np.uint8)
    view = np.frombuffer(raw.data, dtype=a.dtype, offset=1, count=a.size).reshape(a.shape)
    view[...] = a
    assert not view.flags.aligned
    return view


@pytest.mark.parametrize("name", sorted(CALLS))
def test_big_endian_float64_input_computes_like_native_float64(name):
    fn, value = CALLS[name]
    native = fn(value)
    swapped = fn(big_endian(value))
    assert swapped.dtype == native.dtype, (swapped.dtype, native.dtype)
    np.testing.assert_array_equal(swapped, native)


@pytest.mark.parametrize("name", sorted(CALLS))
def test_unaligned_input_is_copied_not_refused(name):
    fn, value = CALLS[name]
    np.testing.assert_array_equal(fn(unaligned(value)), fn(value))
