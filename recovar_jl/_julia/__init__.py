"""The bridge: libjulia embedded in this process through ctypes (docs/bridge.md).

One module per concern, each importing only those above it:

- `errors`: JuliaError, JuliaSetupError and the fixes setup errors name.
- `locate`: finding Julia, libjulia and RecovarCore; the version probe.
- `process`: what starting Julia changes in the process (stdio, signals, locale, C
  environment) and how it is put back.
- `cabi`: the structures that cross the C ABI (mirrors julia/RecovarCore/src/cabi.jl).
- `runtime`: the bridge-owned Julia thread, the job slot it serves, fork handling.
- `marshal`: Python arguments to argument descriptors, and `call`.
- `report`: `runtime_info` and `info`.

A kernel is called as ``call("name", *args)``. To replace a function in a test, patch it
in the module that defines it (``_julia.locate.package_julia_dir``): the names below are
references, and rebinding them here changes nothing the bridge calls.
"""
from .errors import JuliaError, JuliaSetupError
from .locate import find_julia, package_julia_dir, probe_julia  # noqa: F401
from .marshal import call
from .report import info, runtime_info
from .runtime import _thread_count  # noqa: F401  (jobs/memory.py)

__all__ = ["JuliaError", "JuliaSetupError", "call", "info", "runtime_info"]
