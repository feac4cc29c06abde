"""The libjulia bridge: errors come back as JuliaError, any thread may call, bad args refused."""
import threading

import numpy as np
import pytest

import recovar_jl
from generators import centered_dft, crandn
from recovar_jl import _julia


def test_julia_exception_comes_back_as_julia_error_with_message_and_kernel_name():
    with pytest.raises(recovar_jl.JuliaError, match=r"fail_with: ArgumentError: boom"):
        _julia.call("fail_with", "boom")


def test_exception_thrown_from_compiled_julia_code_is_caught_not_a_segfault():
    # With Debian's Julia 1.5.3 and libunwind 1.6 this segfaults (README: libunwind8 pin).
    for _ in range(20):
        with pytest.raises(recovar_jl.JuliaError, match="BoundsError"):
            _julia.call("bounds_error", np.zeros(3))


def test_unknown_kernel_is_a_julia_error():
    with pytest.raises(recovar_jl.JuliaError, match="no kernel named"):
        _julia.call("does_not_exist")


def test_bridge_refuses_non_contiguous_and_unsupported_arrays():
    with pytest.raises(ValueError, match="C-contiguous"):
        _julia.call("noop", np.zeros((4, 4))[:, ::2])
    with pytest.raises(TypeError, match="dtype"):
        _julia.call("noop", np.zeros(3, dtype=np.float16))
    with pytest.raises(TypeError, match="cannot go to Julia"):
        _julia.call("noop", object())


def test_calls_from_four_python_threads_at_once_give_correct_results():
    rng = np.random.default_rng(0)
    inputs = [crandn(rng, 5, 16, 16, dtype=np.complex64) for _ in range(4)]
    results = [None] * 4
    errors = []

    def work(i):
        try:
            for _ in range(25):
                out = np.empty_like(inputs[i])
                _julia.call("centered_fft", out, inputs[i], 2, -1, 1.0)
            results[i] = out
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for x, y in zip(inputs, results):
        np.testing.assert_allclose(y, centered_dft(x, (-2, -1)), rtol=1e-4, atol=1e-4)


def test_runtime_info_reports_julia_threads_fftw_and_package_path():
    facts = _julia.runtime_info()
    assert facts["julia_version"] >= "1.5"
    assert int(facts["julia_threads"]) >= 1
    assert "libfftw3f" in facts["fftw"] and "NOT FOUND" not in facts["fftw"]
    assert facts["recovarcore"].endswith("RecovarCore.jl")


def test_import_does_not_start_julia():
    import subprocess
    import sys

    code = "import recovar_jl, recovar_jl.core, sys; from recovar_jl import _julia; sys.exit(0 if _julia.runtime._runtime is None else 1)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def _run_python(code: str, env_update=None):
    import os
    import subprocess
    import sys

    env = dict(os.environ, **(env_update or {}))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)


def test_keyboard_interrupt_during_a_long_call_leaves_the_package_usable():
    code = """
import os, signal, threading, time
import numpy as np
from recovar_jl import _julia
_julia.call("noop")
threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
try:
    _julia.call("busy_wait", 2.0)
    print("not interrupted")
except KeyboardInterrupt:
    print("interrupted")
x = np.ones((2, 4, 4), np.complex64); y = np.empty_like(x)
_julia.call("centered_fft", y, x, 2, -1, 1.0)
print("usable", float(y[0, 2, 2].real))
"""
    out = _run_python(code)
    assert out.returncode == 0, out.stderr
    assert "interrupted" in out.stdout and "usable 16.0" in out.stdout


def test_missing_julia_gives_setup_error_with_fix_but_import_works():
    code = """
import recovar_jl
from recovar_jl import _julia
try:
    _julia.call("noop")
except recovar_jl.JuliaSetupError as exc:
    print("SETUP:", exc)
"""
    out = _run_python(code, {"RECOVAR_JL_JULIA": "/nonexistent/julia"})
    assert out.returncode == 0, out.stderr
    assert "SETUP:" in out.stdout and "make setup" in out.stdout


def test_bad_thread_count_is_reported_clearly():
    code = """
import recovar_jl
try:
    recovar_jl._julia.call("noop")
except recovar_jl.JuliaSetupError as exc:
    print("SETUP:", exc)
"""
    out = _run_python(code, {"RECOVAR_JL_NUM_THREADS": "many"})
    assert "RECOVAR_JL_NUM_THREADS" in out.stdout


def test_info_command_prints_runtime_facts():
    out = _run_python("from recovar_jl.cli import main; main(['info'])")
    assert out.returncode == 0, out.stderr
    assert "julia_version: 1." in out.stdout and "fftw:" in out.stdout


def test_cpp_extensions_loaded_after_julia_still_handle_their_own_exceptions():
    # matplotlib's pybind11 code throws and catches C++ exceptions internally; with Julia's
    # libunwind first in the global namespace this aborted the process.
    code = """
from recovar_jl import _julia
_julia.call("noop")
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import io
fig = plt.figure(); plt.plot([0, 1], [1, 0]); fig.savefig(io.BytesIO(), format="png")
print("saved")
"""
    out = _run_python(code)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "saved" in out.stdout
