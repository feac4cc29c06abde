"""Shared pieces of the property-based hardening tests (`@hardening` in tests/core, tests/bridge).

`hardening` is the hypothesis settings every hardening test uses: derandomized (the same
examples on every run and in CI), no deadline, a bounded number of examples. `variants`
turns reference values into the forms users really pass (other dtypes, Fortran order,
strided and negative-stride views, read-only arrays, nested lists, object arrays).
`outcome` runs one call and enforces the contract: a result, or ValueError/TypeError that
names the argument; never a JuliaError, another exception, or a write into the inputs.
"""
import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from generators import crandn, random_rotations

import recovar_jl

EXAMPLES = 30


def hardening(max_examples=EXAMPLES):
    return settings(max_examples=max_examples, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])


REAL_DTYPES = ["float16", "float32", "float64", "int8", "int32", "int64", "uint8", "bool"]
COMPLEX_DTYPES = ["complex64", "complex128"]
ALL_DTYPES = REAL_DTYPES + COMPLEX_DTYPES + ["object"]
LAYOUTS = ["C", "F", "strided", "negative", "readonly", "list"]


def cast(values, dtype):
    """`values` in `dtype` the way a user would have them (bools from nonzero, ints rounded)."""
    values = np.asarray(values)
    if dtype == "object":
        return values.astype(object)
    d = np.dtype(dtype)
    if d.kind == "b":
        return values.real != 0 if values.dtype.kind == "c" else values != 0
    if d.kind in "iu":
        info = np.iinfo(d)
        return np.clip(np.round(values.real), info.min, info.max).astype(d)
    if d.kind == "f":
        return values.real.astype(d)
    return values.astype(d)


def layout(arr, kind):
    """The same values as `arr` in memory layout `kind` (a view where the layout needs one)."""
    arr = np.asarray(arr)
    if kind == "C":
        return np.ascontiguousarray(arr)
    if kind == "F":
        return np.asfortranarray(arr)
    if kind == "strided":
        big = np.zeros(tuple(2 * s for s in arr.shape), dtype=arr.dtype)
        view = big[tuple(slice(None, None, 2) for _ in arr.shape)]
        view[...] = arr
        return view
    if kind == "negative":
        rev = np.ascontiguousarray(arr[tuple(slice(None, None, -1) for _ in arr.shape)])
        return rev[tuple(slice(None, None, -1) for _ in arr.shape)]
    if kind == "readonly":
        out = np.array(arr, copy=True)
        out.flags.writeable = False
        return out
    if kind == "list":
        return arr.tolist()
    raise ValueError(kind)


@st.composite
def variants(draw, dtypes=ALL_DTYPES, layouts=LAYOUTS):
    """(dtype, layout) pair."""
    return draw(st.sampled_from(dtypes)), draw(st.sampled_from(layouts))


def as_user_input(values, dtype, kind):
    """(argument to pass, its effective dtype name, the values as float64/complex128).

    The effective dtype is what NumPy makes of the argument: a nested list of float16 values
    is float64 to NumPy, an object array stays object, an empty list has no shape.
    """
    typed = cast(values, dtype)
    arg = layout(typed, kind)
    effective = np.asarray(arg).dtype
    if effective.kind == "O":
        seen = typed
    else:
        seen = np.asarray(typed).astype(np.complex128 if effective.kind == "c" else np.float64)
    return arg, effective.name, seen


def computes_in(dtype_name):
    """Real or complex dtype a wrapper computes in for an input of `dtype_name`."""
    d = np.dtype(dtype_name)
    if d in (np.float64, np.complex64, np.complex128):
        return d
    return np.dtype(np.float32)


def snapshot(*args):
    return [np.array(a, copy=True) if isinstance(a, np.ndarray) else None for a in args]


def assert_unchanged(args, before):
    for a, b in zip(args, before):
        if b is not None:
            same = np.array_equal(a, b, equal_nan=b.dtype.kind in "fc")
            assert same, "an input array was modified"


class Refused(Exception):
    """The call raised ValueError/TypeError naming one of the expected arguments."""


def outcome(fn, *args, names, **kwargs):
    """Call `fn`; return its result, or raise Refused for a clean ValueError/TypeError naming one of `names`.

    Anything else fails the test: a JuliaError (Python should have refused the input), an
    unexpected exception type, an error that does not name the argument, or an input array
    written into.
    """
    before = snapshot(*args, *kwargs.values())
    try:
        result = fn(*args, **kwargs)
    except recovar_jl.JuliaError as exc:  # pragma: no cover - a failure
        raise AssertionError(f"JuliaError for input Python could have rejected: {exc}") from exc
    except (ValueError, TypeError) as exc:
        message = str(exc)
        if not any(name in message for name in names):
            raise AssertionError(f"{type(exc).__name__} does not name any of {names}: {message}") from exc
        assert_unchanged([*args, *kwargs.values()], before)
        raise Refused(message) from None
    assert_unchanged([*args, *kwargs.values()], before)
    return result


def rel_error(actual, expected):
    actual = np.asarray(actual, dtype=np.complex128)
    expected = np.asarray(expected, dtype=np.complex128)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    scale = np.abs(expected).max() if expected.size else 0.0
    if scale == 0:
        return float(np.abs(actual).max()) if actual.size else 0.0
    return float(np.abs(actual - expected).max() / scale)


def tolerance_for(dtype):
    """Accuracy to expect from a computation in `dtype` (float32 unless float64/complex128)."""
    return 1e-10 if np.dtype(dtype) in (np.float64, np.complex128) else 2e-5


@st.composite
def rotations(draw, n):
    """n proper rotations from random unit quaternions, plus a few exact ones."""
    kind = draw(st.sampled_from(["random", "identity", "axis-permutation"]))
    if kind == "identity":
        return np.repeat(np.eye(3)[None], n, 0)
    if kind == "axis-permutation":
        P = np.array([[0, 1, 0], [0, 0, 1], [1, 0, 0]], dtype=float)
        return np.repeat(P[None], n, 0)
    return random_rotations(n, draw(st.integers(0, 2**31 - 1)))


def random_values(seed, shape, complex_=True):
    rng = np.random.default_rng(seed)
    return crandn(rng, *np.broadcast_shapes(shape)) if complex_ else rng.standard_normal(shape)


# Numerical guards (tests/core/test_slicing.py, test_forward.py): float32 backprojection of
# 10^5 images stays within 1e-4 of float64. Box 16, so 10^5 images is quick. The float64
# reference uses the same float32 rotations (same sample points): only the accumulation
# precision differs. The adversarial case sends every image to the same voxels (identity
# rotations, a constant that float32 cannot hold exactly), where a plain running float32 sum
# drifts by ~n·eps.
NUMERICS_BOX = 16
NUMERICS_IMAGES = 100_000
NUMERICS_TOLERANCE = 1e-4


def max_relative_error(single, double):
    """max |single − double| / max |double|, and the same restricted to voxels ≥ 1% of the max."""
    diff = np.abs(single.astype(np.float64) - double)
    scale = np.abs(double).max()
    big = np.abs(double) >= 0.01 * scale
    return diff.max() / scale, (diff[big] / np.abs(double[big])).max()
