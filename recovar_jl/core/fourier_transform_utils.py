"""recovar_jl.core.fourier_transform_utils (mirrors recovar.core.fourier_transform_utils)."""
