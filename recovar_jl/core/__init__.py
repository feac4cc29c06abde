"""recovar_jl.core: the public API of recovar.core (recovar 1.0.5), NumPy in and out."""
