"""recovar_jl.core.mask (mirrors recovar.core.mask)."""
