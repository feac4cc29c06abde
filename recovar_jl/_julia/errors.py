"""The bridge's two exceptions and the fixes its setup errors name."""

_SETUP_HINT = ("run 'make setup' (or scripts/setup.sh) in the recovar_jl checkout, or install "
               "Julia >= 1.5 and set RECOVAR_JL_JULIA=/path/to/julia")
_FFTW_HINT = ("install FFTW 3: 'apt-get install libfftw3-single3 libfftw3-double3' on Debian/Ubuntu "
              "(or run 'make setup' in the recovar_jl checkout; elsewhere your system's fftw3 package)")
_CORE_HINT = ("repair or reinstall recovar_jl ('make setup' in the checkout, or "
              "'pip install --force-reinstall recovar_jl'); if only the compile cache is stale, "
              "delete ~/.julia/compiled/v*/RecovarCore")


class JuliaError(RuntimeError):
    """A Julia exception raised inside a kernel; the message is Julia's."""


class JuliaSetupError(RuntimeError):
    """Julia, libjulia, FFTW or RecovarCore could not be found or loaded."""
