# Periodic cubic B-splines (src/interp/spline.jl, src/interp/cubic.jl): basis, prefilter, n-dimensional evaluation.
using RecovarCore: cubic_bspline, cubic_weights, spline_coefficients!, interpolate_spline!

"Periodic [1, 4, 1] operator along every axis (the inverse of spline_coefficients!)."
function apply_141(C::AbstractArray)
    out = copy(C)
    for d in 1:ndims(C)
        out = circshift(out, ntuple(i -> i == d ? 1 : 0, ndims(C))) .+ 4 .* out .+
              circshift(out, ntuple(i -> i == d ? -1 : 0, ndims(C)))
    end
    return out
end

@testset "basis and weights" begin
    @test cubic_bspline(0.0) == 4
    @test cubic_bspline(1.0) == 1 && cubic_bspline(-1.0) == 1
    @test cubic_bspline(2.0) == 0 && cubic_bspline(2.5) == 0
    @test cubic_bspline(1.5) ≈ 0.125
    for t in (0.0, 0.3, 0.5, 0.99)
        w = cubic_weights(t)
        @test sum(w) ≈ 6
        @test collect(w) ≈ [cubic_bspline(t + 1), cubic_bspline(t), cubic_bspline(t - 1), cubic_bspline(t - 2)]
    end
end

@testset "coefficients solve the periodic [1, 4, 1] system (dims $(size(x)))" for x in
        (randn(MersenneTwister(1), 9), randn(MersenneTwister(2), ComplexF64, 6, 5),
         randn(MersenneTwister(3), 4, 7, 3), randn(MersenneTwister(4), 1, 2, 3), randn(MersenneTwister(5), Float32, 8, 8))
    C = spline_coefficients!(copy(x))
    @test apply_141(C) ≈ x rtol = (eltype(x) <: Float32 ? 1e-5 : 1e-12)
end

@testset "coefficients equal the DFT formula ifft(fft(x) / (4 + 2cos 2πk/N))" begin
    x = randn(MersenneTwister(6), ComplexF64, 11)
    C = spline_coefficients!(copy(x))
    N = length(x)
    F = [sum(x[j+1] * cis(-2pi * j * k / N) for j in 0:N-1) for k in 0:N-1]
    expected = [sum(F[k+1] / (4 + 2cos(2pi * k / N)) * cis(2pi * j * k / N) for k in 0:N-1) / N for j in 0:N-1]
    @test C ≈ expected rtol = 1e-12
end

@testset "spline interpolation reproduces the data at grid points and wraps" begin
    data = randn(MersenneTwister(7), 5, 6, 4)
    C = spline_coefficients!(copy(data))
    # points: every grid index (NumPy axis order = reversed Julia order)
    pts = reshape([Float64(I[4 - d]) - 1 for d in 1:3, I in CartesianIndices(data)], 3, :)
    out = zeros(length(data))
    interpolate_spline!(out, C, pts, true, 0.0)
    @test out ≈ vec(data) rtol = 1e-12
    shifted = pts .+ [4.0, 6.0, -5.0]     # NumPy sizes (4, 6, 5): a whole period on each axis
    out2 = zeros(length(data))
    interpolate_spline!(out2, C, shifted, true, 0.0)
    @test out2 ≈ out rtol = 1e-12
end

@testset "fill mode: stencil points outside read the fill value" begin
    C = ones(4)
    out = zeros(1)
    interpolate_spline!(out, C, reshape([0.0], 1, 1), false, 0.0)
    @test out[1] ≈ 4 + 1                      # the point −1 is outside
    interpolate_spline!(out, C, reshape([0.0], 1, 1), false, 2.0)
    @test out[1] ≈ 4 + 1 + 2
    interpolate_spline!(out, C, reshape([0.0], 1, 1), true, 0.0)
    @test out[1] ≈ 6
end
