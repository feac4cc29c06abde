"""recovar_jl.core.ctf (mirrors recovar.core.ctf)."""
