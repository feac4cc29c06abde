# Linear algebra (recovar.core.linalg) is NumPy/LAPACK in recovar_jl/core/linalg.py. Its
# column DFTs (dft3, idft3, batch_dft3, batch_idft3) are the centered_fft kernel of
# fourier.jl applied to NumPy (V, m) = Julia (m, N2, N1, N0) over dims 2:4: the m columns are
# an inner batch, so no transpose is made, and batch_idft3(…, overwrite=True) runs in place.
