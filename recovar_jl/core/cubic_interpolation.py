"""recovar_jl.core.cubic_interpolation (mirrors recovar.core.cubic_interpolation)."""
