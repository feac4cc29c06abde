"""Finding Julia, libjulia and the RecovarCore package (nothing here starts Julia)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from .errors import _SETUP_HINT, JuliaSetupError


def package_julia_dir() -> Path:
    """Directory of the RecovarCore Julia package (shipped copy, else the source checkout)."""
    here = Path(__file__).resolve().parents[1]  # recovar_jl/
    for candidate in (here / "RecovarCore", here.parent / "julia" / "RecovarCore"):
        if (candidate / "Project.toml").is_file():
            return candidate
    raise JuliaSetupError(f"RecovarCore Julia package not found next to {here}; reinstall recovar_jl")


def find_julia() -> str:
    """Path of the Julia executable: $RECOVAR_JL_JULIA, else `julia` on PATH."""
    explicit = os.environ.get("RECOVAR_JL_JULIA")
    if explicit:
        if not (os.path.isfile(explicit) and os.access(explicit, os.X_OK)):
            raise JuliaSetupError(f"RECOVAR_JL_JULIA={explicit} is not an executable file; {_SETUP_HINT}")
        return explicit
    found = shutil.which("julia")
    if found is None:
        raise JuliaSetupError(f"Julia was not found on PATH; {_SETUP_HINT}")
    return found


_PROBE = r"""
import Libdl
lib = ""
for p in Libdl.dllist()
    if occursin(r"libjulia\.(so|dylib)", basename(p)) || basename(p) == "libjulia.dll"
        global lib = p; break
    end
end
if isempty(lib)
    for name in ("libjulia.so.1", "libjulia.so")
        p = joinpath(Sys.BINDIR, Base.LIBDIR, name)
        if isfile(p); global lib = p; break; end
    end
end
print("{\"version\": \"", VERSION, "\", \"bindir\": \"", escape_string(Sys.BINDIR),
      "\", \"libjulia\": \"", escape_string(realpath(lib)), "\", \"image\": \"",
      escape_string(unsafe_string(Base.JLOptions().image_file)), "\"}")
"""


def probe_julia(julia: str) -> dict:
    """Ask `julia` for its version, bindir, libjulia and system image paths."""
    try:
        # stdin=DEVNULL: a Julia child sharing our stdin pipe would leave it non-blocking.
        out = subprocess.run([julia, "--startup-file=no", "--history-file=no", "-e", _PROBE],
                             stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise JuliaSetupError(f"could not run {julia}: {exc}; {_SETUP_HINT}") from exc
    if out.returncode != 0:
        raise JuliaSetupError(f"{julia} failed ({out.stderr.strip()[-500:]}); {_SETUP_HINT}")
    try:
        facts = json.loads(out.stdout)
        major, minor = (int(v) for v in facts["version"].split(".")[:2])
        facts = {key: str(facts[key]) for key in ("version", "bindir", "libjulia", "image")}
    except (ValueError, KeyError, TypeError, AttributeError):
        # Not Julia, or a Julia too old to run the probe (it needs 1.5's Libdl and JLOptions).
        printed = (out.stdout.strip() or out.stderr.strip())[:200]
        raise JuliaSetupError(f"{julia} did not answer like Julia >= 1.5 (it printed {printed!r}); "
                              f"{_SETUP_HINT}") from None
    if (major, minor) < (1, 5):
        raise JuliaSetupError(f"{julia} is Julia {facts['version']}; recovar_jl needs 1.5 or newer; {_SETUP_HINT}")
    if not os.path.isfile(facts["libjulia"]):
        raise JuliaSetupError(f"libjulia of {julia} not found; {_SETUP_HINT}")
    return facts


def _version_tuple(version: str) -> tuple:
    return tuple(int(v) for v in version.split("-")[0].split(".")[:2])


def _package_dir_or_problem() -> str:
    try:
        return str(package_julia_dir())
    except JuliaSetupError as exc:
        return f"NOT FOUND ({exc})"
