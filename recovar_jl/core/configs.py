"""recovar_jl.core.configs (mirrors recovar.core.configs)."""
