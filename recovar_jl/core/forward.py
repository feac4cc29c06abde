"""recovar_jl.core.forward (mirrors recovar.core.forward)."""
