"""recovar_jl.core.linalg (mirrors recovar.core.linalg)."""
