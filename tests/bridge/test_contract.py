"""The contract of every public function of recovar_jl.core, whatever it is given.

For each public function of each submodule (found by introspection, so modules that land
later are covered too), hypothesis draws every positional argument from a pool of awkward
values — None, strings, NaN, Inf, bools, empty and zero-size arrays, odd and even small
boxes, object and complex arrays, ragged lists, non-contiguous, Fortran-ordered and
read-only arrays. The call must return, or raise ValueError/TypeError whose message names
one of the function's parameters (MemoryError for outputs that cannot fit).
Never a JuliaError, another exception type, a hang or a crash. Sizes stay tiny: nothing
here may allocate much.
"""
import importlib
import inspect
import pkgutil

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import recovar_jl
import recovar_jl.core
from hardening import hardening

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
