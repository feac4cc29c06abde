"""recovar_jl.core.padding (mirrors recovar.core.padding)."""
