"""recovar_jl.core.geometry (mirrors recovar.core.geometry)."""
