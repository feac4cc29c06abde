"""What the bridge reports about the Julia it runs (`recovar-jl info`)."""
import numpy as np

from . import runtime as runtime_module
from .errors import JuliaSetupError
from .locate import _package_dir_or_problem
from .marshal import call


def runtime_info() -> dict:
    """Facts about the Julia runtime (starts it): version, threads, FFTW, paths."""
    rt = runtime_module.runtime()
    buffer = np.zeros(4096, dtype=np.uint8)
    call("runtime_info", buffer)
    text = bytes(buffer[:np.argmin(buffer)]).decode()
    facts = dict(line.split(": ", 1) for line in text.splitlines())
    facts["julia_executable"] = rt.facts.get("julia", "")
    facts["libjulia"] = rt.facts.get("libjulia", "")
    return facts


def info(file=None) -> None:
    """Print Julia version, threads, FFTW library and RecovarCore path (or what is missing)."""
    import sys

    out = file or sys.stdout
    try:
        facts = runtime_info()
    except JuliaSetupError as exc:
        print(f"recovar_jl: Julia not usable: {exc}", file=out)
        known = runtime_module._runtime.facts if runtime_module._runtime is not None else {}
        for key, label in (("julia", "julia_executable"), ("version", "julia_version"), ("libjulia", "libjulia")):
            if known.get(key):
                print(f"{label}: {known[key]}", file=out)
        print(f"recovarcore: {_package_dir_or_problem()}", file=out)
        return
    for key, value in facts.items():
        print(f"{key}: {value}", file=out)

