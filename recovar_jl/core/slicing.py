"""recovar_jl.core.slicing (mirrors recovar.core.slicing)."""
