"""The contract of every public function of recovar_jl.core, whatever it is given.

For each public function of each submodule (found by introspection, so modules that land
later are covered too), hypothesis draws every positional argument from a pool of awkward
values — None, strings, NaN, Inf, bools, empty and zero-size arrays, odd and even small
boxes, object and complex arrays, ragged lists, non-contiguous, Fortran-ordered and
read-only arrays. The call must return, or raise ValueError/TypeError whose message names
one of the function's parameters (MemoryError for outputs that cannot fit).
Never a JuliaError, another exception type, a hang or a crash. Sizes stay tiny: nothing
here may allocate much.

Below, the same contract for two kinds of input and output: big-endian and unaligned
arrays compute as native ones, and outputs too large for memory are refused with their size.
"""
import importlib
import inspect
import json
import pkgutil
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import recovar_jl
import recovar_jl.core
from generators import crandn
from hardening import hardening
from recovar_jl.core import ctf, cubic_interpolation, geometry, slicing

# Functions that take a callable or config object first are exercised elsewhere.
SKIP = {("configs", "ForwardModelConfig"), ("linalg", "randomized_svd"),
        ("slicing", "_default_max_r")}  # a one-line helper on an image_shape tuple, as recovar's
# Words that count as naming the argument when a parameter name is generic.
ALIASES = {"np": ("np", "module"), "kwargs": ("keyword",)}

rng = np.random.default_rng(0)


def _readonly(a):
    a = np.array(a)
    a.flags.writeable = False
    return a


POOL = [
    None, "x", "linear_interp", b"bytes", True, False, 0, 1, 2, 3, 4, 5, -1, 7, 0.5, -2.5, float("nan"), float("inf"),
    1j, np.float32(3), np.int64(4), np.bool_(True), (4, 4), (5, 5), (4, 4, 4), (3, 3, 3), (0, 0), (4,), (4, 5),
    (2, 2.5), [4, 4], {"a": 1}, object(),
    np.zeros(0), np.zeros((0, 3)), np.zeros((0, 3, 3)), np.zeros((0, 16)), np.zeros(16, np.float16),
    rng.standard_normal(16), rng.standard_normal((4, 4)), rng.standard_normal((2, 16)), rng.standard_normal((3, 3)),
    rng.standard_normal((1, 3, 3)), rng.standard_normal((2, 9)).astype(np.float32),
    rng.standard_normal((4, 4, 4)).astype(np.float32), rng.standard_normal(64).astype(np.complex64),
    rng.standard_normal((5, 5, 5)), rng.standard_normal((3, 5, 5)) + 0j, rng.standard_normal((2, 2)).astype(np.complex64),
    np.full((1, 3, 3), np.nan), np.full((4, 4), np.inf), np.array([[1, 2], [3, 4]], dtype=object),
    np.array(["a", "b"]), np.ones((4, 4), bool), np.arange(16, dtype=np.int32), np.arange(64, dtype=np.uint8),
    np.asfortranarray(rng.standard_normal((4, 4))), rng.standard_normal((8, 8))[::2, ::2],
    rng.standard_normal(32)[::-2], _readonly(rng.standard_normal((4, 4, 4))), [[1.0, 2.0], [3.0]], [[0.5] * 3] * 3,
    np.eye(3)[None].astype(np.float32), np.repeat(np.eye(3)[None], 2, 0), rng.standard_normal((2, 2)).astype(np.float32),
]


def public_functions():
    out = []
    for mod_info in pkgutil.iter_modules(recovar_jl.core.__path__):
        module = importlib.import_module(f"recovar_jl.core.{mod_info.name}")
        names = getattr(module, "__all__", None) or [n for n in dir(module) if not n.startswith("_")]
        for name in names:
            obj = getattr(module, name, None)
            if not inspect.isfunction(obj) or getattr(obj, "__module__", "") != module.__name__:
                continue
            if (mod_info.name, name) in SKIP:
                continue
            out.append((mod_info.name, name, obj))
    return out


FUNCTIONS = public_functions()


def positional_parameters(fn):
    params = []
    for p in inspect.signature(fn).parameters.values():
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            params.append(p)
    return params


def names_an_argument(message, fn):
    words = [p for p in inspect.signature(fn).parameters]
    for w in list(words):
        words.extend(ALIASES.get(w, ()))
        words.append(w.rstrip("s"))  # "coordinate arrays" names `coords`/`coordinates`
    return any(w in message for w in words)


@pytest.mark.parametrize("module,name,fn", FUNCTIONS, ids=[f"{m}.{n}" for m, n, _ in FUNCTIONS])
@hardening(20)
@given(data=st.data())
def test_any_arguments_give_a_result_or_a_named_value_or_type_error(module, name, fn, data):
    params = positional_parameters(fn)
    args = []
    for p in params:
        # Mostly awkward values; sometimes keep a default so later arguments get exercised.
        if p.default is not inspect.Parameter.empty and data.draw(st.booleans(), label=f"default {p.name}"):
            args.append(p.default)
        else:
            args.append(data.draw(st.sampled_from(POOL), label=p.name))
    snapshots = [np.array(a, copy=True) if isinstance(a, np.ndarray) and a.dtype.kind in "biufc" else None
                 for a in args]
    try:
        fn(*args)
    except recovar_jl.JuliaError as exc:
        raise AssertionError(f"{module}.{name}: JuliaError for input Python could have rejected: {exc}") from exc
    except (ValueError, TypeError) as exc:
        assert names_an_argument(str(exc), fn), f"{module}.{name}: {type(exc).__name__} names no argument: {exc}"
    except MemoryError as exc:
        assert "would need" in str(exc), f"{module}.{name}: unannounced MemoryError {exc}"
    for a, before in zip(args, snapshots):
        if before is not None:
            same = np.array_equal(a, before, equal_nan=before.dtype.kind in "fc")
            assert same, f"{module}.{name} wrote into an input array"


def test_the_bridge_refuses_integers_beyond_int64_instead_of_wrapping_them():
    from recovar_jl import _julia

    for value in (2 ** 63, -(2 ** 63) - 1, 2 ** 70):
        with pytest.raises(ValueError, match="64-bit"):
            _julia.call("noop", value)
    _julia.call("noop", 2 ** 63 - 1, -(2 ** 63))


def test_shapes_whose_voxel_count_overflows_int64_are_refused_not_a_segfault():
    # np.prod((2**40,)*3) wraps to 0 in int64: an empty volume then "matched" the shape and
    # the kernel read outside it. Each case runs in a subprocess (a crash is a failure, not
    # the end of the test run).
    import subprocess
    import sys

    code = r"""
import numpy as np
from recovar_jl.core import slicing, forward, indexing
from recovar_jl.core.configs import ForwardModelConfig
from recovar_jl.core.ctf import CTFEvaluator
B = (2 ** 40,) * 3
R = np.eye(3)[None]
p = np.array([[15000, 15000, 0, 300, 2.7, 0.1, 0, 0, 1]], np.float32)
cfg = ForwardModelConfig(image_shape=(2, 2), volume_shape=B, grid_size=2 ** 40, voxel_size=1.0, padding=0,
                         disc_type="linear_interp", ctf=CTFEvaluator())
cases = [
    lambda: slicing.slice_volume(np.zeros(0), R, (2, 2), B, "nearest", max_r=None),
    lambda: slicing.slice_volume(np.zeros(0), R, (2, 2), B, "cubic", half_volume=True),
    lambda: slicing.batch_slice_volume(np.zeros((1, 0)), R, (2, 2), B, "linear_interp"),
    lambda: slicing.adjoint_slice_volume(np.ones((1, 4)), R, (2, 2), B, "nearest"),
    lambda: slicing.slice_from_cubic_coefficients(np.zeros(0), R, (2, 2), B),
    lambda: slicing.precompute_cubic_coefficients(np.zeros(0), B),
    lambda: forward.forward_model(cfg, np.zeros(0), p, R),
    lambda: forward.compute_AtAv(cfg, np.zeros(0), p, R, 1.0),
    lambda: indexing.vec_indices_to_vol_indices(np.zeros(2, int), B),
]
for i, case in enumerate(cases):
    try:
        case()
        print(i, "returned")
    except (ValueError, TypeError, MemoryError) as exc:
        print(i, "refused", type(exc).__name__)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, (out.returncode, out.stdout, out.stderr[-2000:])
    lines = out.stdout.splitlines()
    assert len(lines) == 9 and all("refused" in line for line in lines), out.stdout


# --- big-endian and unaligned arrays (files, network buffers, np.frombuffer) act as native --------
# A big-endian float64 array must compute in float64 like a native one (not silently in
# float32); an unaligned C-contiguous array must be copied, not refused by the bridge with a
# positional message. recovar_jl._validate normalises byte order and alignment.

PARAMS = np.array([[15000, 14000, 30, 300, 2.7, 0.1, 0, 10, 1]], dtype=np.float64)
ROT = np.eye(3)[None]


_values = np.random.default_rng(5)
VOLUME = crandn(_values, 6 ** 3)
IMAGES = crandn(_values, 2, 36)


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


# --- outputs that cannot fit in memory are refused up front, with their size ----------------------
# Every case asks a function for an output of hundreds of GiB from tiny inputs. The cases
# run in one subprocess whose address space is capped (RLIMIT_AS, 8 GiB): a function that
# forgot to check would get NumPy's own MemoryError there (and fail this test) instead of
# over-committing memory on a shared machine. Functions of modules that have not landed are
# skipped.

BIG_IMAGE = (2 ** 17, 2 ** 17)  # 1.7e10 pixels per image
BIG_VOLUME = (4000, 4000, 4000)  # 6.4e10 voxels


CASES = {
    "slicing.slice_volume": "slicing.slice_volume(np.ones(8), eye, BIG_IMAGE, (2, 2, 2), 'linear_interp')",
    "slicing.batch_slice_volume": "slicing.batch_slice_volume(np.ones((1, 8)), eye, BIG_IMAGE, (2, 2, 2), 'nearest')",
    "slicing.slice_from_cubic_coefficients":
        "slicing.slice_from_cubic_coefficients(np.ones(8), eye, BIG_IMAGE, (2, 2, 2))",
    "slicing.adjoint_slice_volume":
        "slicing.adjoint_slice_volume(np.zeros((0, 4)), np.zeros((0, 3, 3)), (2, 2), BIG_VOLUME, 'linear_interp')",
    "slicing.batch_adjoint_slice_volume":
        "slicing.batch_adjoint_slice_volume(np.zeros((1, 0, 4)), np.zeros((0, 3, 3)), (2, 2), BIG_VOLUME, 'nearest')",
    "ctf.CTFEvaluator": "ctf.CTFEvaluator()(params, BIG_IMAGE, 1.0)",
    "ctf.evaluate_ctf": "ctf.evaluate_ctf(np.zeros((200000, 2)), np.repeat(params, 200000, 0))",
    "ctf.get_dose_filters": "ctf.get_dose_filters(1.0, BIG_IMAGE, [0.0], [0.0], 300.0)",
    "geometry.batch_get_gridpoint_coords": "geometry.batch_get_gridpoint_coords(eye, BIG_IMAGE, (2, 2, 2))",
    "geometry.batch_get_nearest_gridpoint_indices":
        "geometry.batch_get_nearest_gridpoint_indices(eye, BIG_IMAGE, (2, 2, 2))",
    "geometry.get_unrotated_plane_grid_points": "geometry.get_unrotated_plane_grid_points(BIG_IMAGE)",
    "forward.forward_model": "forward.forward_model(config(BIG_IMAGE, (2, 2, 2)), np.ones(8), params, eye)",
    "forward.adjoint_forward_model":
        "forward.adjoint_forward_model(config((2, 2), BIG_VOLUME), np.zeros((0, 4)), params[:0], eye[:0])",
    "mask.get_radial_mask": "mask.get_radial_mask(BIG_VOLUME)",
    "mask.window_mask": "mask.window_mask(10 ** 5, 0.5, 0.9)",
    "mask.smooth_circular_mask": "mask.smooth_circular_mask(10 ** 5, 3.0, 2.0)",
    "geometry.find_frequencies_within_grid_dist": "geometry.find_frequencies_within_grid_dist(np.zeros((1, 3)), 10 ** 4)",
    "fourier_transform_utils.get_k_coordinate_of_each_pixel":
        "fourier_transform_utils.get_k_coordinate_of_each_pixel(BIG_IMAGE, 1.0)",
    "fourier_transform_utils.get_grid_of_radial_distances":
        "fourier_transform_utils.get_grid_of_radial_distances(BIG_VOLUME)",
    "padding.pad_images_spatial_domain": "padding.pad_images_spatial_domain(np.zeros((1, 2, 2)), 10 ** 6)",
    "padding.pad_volume_spatial_domain": "padding.pad_volume_spatial_domain(np.zeros((2, 2, 2)), 10 ** 4)",
    "linalg.l2_distance": "linalg.l2_distance(np.zeros((10 ** 6, 1)), np.zeros((10 ** 6, 1)))",
    "linalg.broadcast_outer": "linalg.broadcast_outer(np.zeros(10 ** 6), np.zeros(10 ** 6))",
}


SCRIPT = r"""
import importlib, json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, (8 << 30, 8 << 30))
import numpy as np
BIG_IMAGE, BIG_VOLUME = %r, %r
eye = np.eye(3, dtype=np.float32)[None]
params = np.array([[15000, 15000, 0, 300, 2.7, 0.1, 0, 0, 1]], np.float32)
def config(image_shape, volume_shape):
    from recovar_jl.core.configs import ForwardModelConfig
    from recovar_jl.core.ctf import CTFEvaluator
    return ForwardModelConfig(image_shape=image_shape, volume_shape=volume_shape, grid_size=volume_shape[0],
                              voxel_size=1.0, padding=0, disc_type="linear_interp", ctf=CTFEvaluator())
cases = json.loads(sys.argv[1])
for name, code in cases.items():
    module, function = name.split(".")
    try:
        mod = importlib.import_module("recovar_jl.core." + module)
    except ImportError:
        mod = None
    if mod is None or not hasattr(mod, function):
        print(json.dumps({"case": name, "outcome": "missing"}), flush=True)
        continue
    globals()[module] = mod
    try:
        eval(code)
        result = {"outcome": "returned"}
    except MemoryError as exc:
        result = {"outcome": "refused" if "would need" in str(exc) else "numpy-memory-error", "message": str(exc)}
    except Exception as exc:
        result = {"outcome": type(exc).__name__, "message": str(exc)}
    result["case"] = name
    print(json.dumps(result), flush=True)
""" % (BIG_IMAGE, BIG_VOLUME)


@pytest.fixture(scope="module")
def outcomes():
    out = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(CASES)], capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    results = {}
    for line in out.stdout.splitlines():
        record = json.loads(line)
        results[record["case"]] = record
    return results


@pytest.mark.parametrize("case", sorted(CASES))
def test_output_too_large_for_memory_is_refused_with_its_size(outcomes, case):
    record = outcomes[case]
    if record["outcome"] == "missing":
        pytest.skip(f"{case} has not landed")
    assert record["outcome"] == "refused", record
    message = record["message"]
    assert "GiB" in message and "would need" in message
