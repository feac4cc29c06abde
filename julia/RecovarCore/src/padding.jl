# Padding (recovar.core.padding) has no kernel of its own: zero padding and cropping are
# NumPy slice assignments in recovar_jl/core/padding.py, and the transforms around them are
# the centered kernels of fourier.jl (centered_fft / centered_rfft).
