"""A broken environment explains itself: one JuliaSetupError with the command that fixes it.

Julia missing, not Julia, too old, libjulia missing or unloadable, FFTW missing, RecovarCore
broken. Importing recovar_jl (and every submodule of recovar_jl.core) never fails because
of Julia; the first kernel call does, every later call says the same, and
`python -m recovar_jl info` shows the state. Each case runs in its own subprocess.
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SETUP_FIX = "make setup"
FFTW_SO = "libfftw3f.so.3"

# Imports everything, makes the first kernel call twice, then prints `info`.
PROBE = """
import importlib, pkgutil, sys
import recovar_jl, recovar_jl.core
from recovar_jl import _julia
for mod in pkgutil.iter_modules(recovar_jl.core.__path__):
    importlib.import_module("recovar_jl.core." + mod.name)
print("IMPORTED", _julia.runtime._runtime is None)
if len(sys.argv) > 1:                      # point the bridge at another RecovarCore copy
    from pathlib import Path
    _julia.locate.package_julia_dir = lambda: Path(sys.argv[1])
messages = []
for _ in range(2):
    try:
        _julia.call("noop")
        messages.append("OK")
    except recovar_jl.JuliaSetupError as exc:
        messages.append("SETUP: " + str(exc))
    except BaseException as exc:
        messages.append("OTHER %s: %s" % (type(exc).__name__, exc))
print(messages[0].replace(chr(10), " | "))   # one line per fact for the checks
print("SAME", messages[0] == messages[1])
print("INFO-BEGIN")
recovar_jl.info()
"""


def run_probe(env_update=None, args=(), drop=()):
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(env_update or {})
    return subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True,
                          env=env, timeout=300, cwd=str(REPO))


def run_info_command(env_update=None, drop=()):
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(env_update or {})
    return subprocess.run([sys.executable, "-m", "recovar_jl", "info"], capture_output=True, text=True,
                          env=env, timeout=300, cwd=str(REPO))


def check_setup_failure(out, *needles):
    """Import fine, Julia not started at import, first call a JuliaSetupError naming the fix."""
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.splitlines()
    assert lines[0] == "IMPORTED True", out.stdout
    assert lines[1].startswith("SETUP: "), out.stdout
    assert "Traceback" not in lines[1]
    for needle in needles:
        assert needle in lines[1], f"{needle!r} not in {lines[1]!r}"
    assert lines[2] == "SAME True", out.stdout
    info = out.stdout.split("INFO-BEGIN", 1)[1]
    assert "Julia not usable" in info
    return lines[1]


def fake_julia(tmp_path, name, body):
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)
    return str(path)


def test_julia_missing_from_path_names_the_fix_and_import_still_works(tmp_path):
    # A PATH holding only a directory without julia; the interpreter is called by full path.
    (tmp_path / "bin").mkdir()
    out = run_probe({"PATH": str(tmp_path / "bin")}, drop=("RECOVAR_JL_JULIA",))
    message = check_setup_failure(out, "not found on PATH", SETUP_FIX, "RECOVAR_JL_JULIA")
    assert "Julia >= 1.5" in message
    info = run_info_command({"PATH": str(tmp_path / "bin")}, drop=("RECOVAR_JL_JULIA",))
    assert "Julia not usable" in info.stdout and "not found on PATH" in info.stdout


def test_recovar_jl_julia_pointing_nowhere_names_the_variable():
    out = run_probe({"RECOVAR_JL_JULIA": "/nonexistent/bin/julia"})
    check_setup_failure(out, "RECOVAR_JL_JULIA=/nonexistent/bin/julia", "is not an executable", SETUP_FIX)


def test_julia_too_old_is_refused_with_its_version(tmp_path):
    julia = fake_julia(tmp_path, "julia", 'echo \'{"version": "1.4.2", "bindir": "/usr/bin", '
                       '"libjulia": "/usr/lib/libjulia.so.1", "image": "/usr/lib/julia/sys.so"}\'')
    out = run_probe({"RECOVAR_JL_JULIA": julia})
    check_setup_failure(out, "Julia 1.4.2", "needs 1.5 or newer", SETUP_FIX)
    info = run_info_command({"RECOVAR_JL_JULIA": julia})
    assert "needs 1.5 or newer" in info.stdout


def test_a_julia_that_cannot_run_the_probe_is_reported_not_a_json_traceback(tmp_path):
    # What a very old Julia or an unrelated program called `julia` looks like to the probe.
    julia = fake_julia(tmp_path, "julia", 'echo "julia version 1.0.5"')
    out = run_probe({"RECOVAR_JL_JULIA": julia})
    message = check_setup_failure(out, "did not answer like Julia >= 1.5", "julia version 1.0.5", SETUP_FIX)
    assert "JSON" not in message and "Expecting value" not in message


def test_julia_failing_to_run_reports_its_stderr(tmp_path):
    julia = fake_julia(tmp_path, "julia", 'echo "error while loading shared libraries: libjulia.so.1" >&2; exit 127')
    out = run_probe({"RECOVAR_JL_JULIA": julia})
    check_setup_failure(out, "failed", "libjulia.so.1", SETUP_FIX)


def test_libjulia_not_found_is_reported(tmp_path):
    julia = fake_julia(tmp_path, "julia", 'echo \'{"version": "1.5.3", "bindir": "/usr/bin", '
                       '"libjulia": "/nonexistent/libjulia.so.1", "image": "/nonexistent/sys.so"}\'')
    out = run_probe({"RECOVAR_JL_JULIA": julia})
    check_setup_failure(out, "libjulia", "not found", SETUP_FIX)


def test_libjulia_that_cannot_be_loaded_is_reported(tmp_path):
    not_a_library = tmp_path / "libjulia.so.1"
    not_a_library.write_text("this is not an ELF file\n")
    julia = fake_julia(tmp_path, "julia", 'echo \'{"version": "1.5.3", "bindir": "/usr/bin", '
                       f'"libjulia": "{not_a_library}", "image": "/nonexistent/sys.so"}}\'')
    out = run_probe({"RECOVAR_JL_JULIA": julia})
    check_setup_failure(out, "could not be loaded", str(not_a_library), SETUP_FIX)


def _can_hide_files():
    if sys.platform != "linux" or shutil.which("unshare") is None or os.geteuid() != 0:
        return False
    probe = subprocess.run(["unshare", "-m", "sh", "-c", "mount --bind /dev/null /dev/null"],
                           capture_output=True)
    return probe.returncode == 0


def _fftw_file():
    for d in ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib"):
        p = Path(d) / FFTW_SO
        if p.exists():
            return p.resolve()
    return None


@pytest.mark.skipif(not _can_hide_files() or _fftw_file() is None,
                    reason="needs root, unshare and mount to hide libfftw3f in a private mount namespace")
def test_fftw_missing_is_reported_at_start_with_the_install_command():
    # The library file is replaced by /dev/null in a private mount namespace: the loader
    # finds it and fails, as it would with the package missing or broken.
    hide = f"mount --bind /dev/null {_fftw_file()}"
    code = f"{hide} && exec {sys.executable} -c '{PROBE.replace(chr(39), chr(34))}'"
    out = subprocess.run(["unshare", "-m", "sh", "-c", code], capture_output=True, text=True,
                         timeout=300, cwd=str(REPO))
    check_setup_failure(out, "FFTW", FFTW_SO, "apt-get install libfftw3-single3 libfftw3-double3")
    info = out.stdout.split("INFO-BEGIN", 1)[1]
    assert "julia_version: 1." in info  # what is known is still shown
    cmd = f"{hide} && exec {sys.executable} -m recovar_jl info"
    info_cmd = subprocess.run(["unshare", "-m", "sh", "-c", cmd], capture_output=True, text=True,
                              timeout=300, cwd=str(REPO))
    assert "FFTW" in info_cmd.stdout and "apt-get install" in info_cmd.stdout


def test_broken_recovarcore_reports_file_line_and_fix(tmp_path):
    broken = tmp_path / "RecovarCore"
    shutil.copytree(REPO / "julia" / "RecovarCore", broken)
    with open(broken / "src" / "geometry.jl", "a") as f:
        f.write("\nfunction unfinished(\n")
    # A private depot: the failed precompilation must not touch the user's compile cache.
    out = run_probe({"JULIA_DEPOT_PATH": str(tmp_path / "depot")}, args=(str(broken),))
    message = check_setup_failure(out, "RecovarCore", "failed to load", "geometry.jl", "reinstall")
    assert "syntax" in message
    info = out.stdout.split("INFO-BEGIN", 1)[1]
    assert f"recovarcore: {broken}" in info


def test_bad_thread_count_names_the_variable():
    out = run_probe({"RECOVAR_JL_NUM_THREADS": "0"})
    check_setup_failure(out, "RECOVAR_JL_NUM_THREADS", "at least 1")


def test_working_environment_info_command_shows_every_fact():
    out = run_info_command()
    assert out.returncode == 0, out.stderr
    for key in ("julia_version: 1.", "julia_threads:", "fftw: /", "recovarcore:", "julia_executable:", "libjulia:"):
        assert key in out.stdout, out.stdout
    assert "NOT FOUND" not in out.stdout
