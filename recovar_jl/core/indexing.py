"""recovar_jl.core.indexing (mirrors recovar.core.indexing)."""
