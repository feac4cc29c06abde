# fftw.jl: the batched plain transforms and the plan cache.
using RecovarCore: fft_batched!, rfft_batched!, irfft_batched!, fftw_plan, IODim, PLAN_CACHE, FFTW_FORWARD

"Naive unnormalised DFT of a vector (sign -1 forward, +1 backward)."
naive_unnormalised_dft(x::AbstractVector, sign) = [sum(x[j+1] * cis(sign * 2pi * j * k / length(x)) for j in 0:length(x)-1)
                                      for k in 0:length(x)-1]

@testset "fft_batched! matches a naive DFT, both directions, in and out of place" begin
    for T in (Float32, Float64), n in (1, 2, 5, 8, 9)
        x = randn(Complex{T}, n, 3)
        y = similar(x)
        fft_batched!(y, x, (n,), 3, -1)
        @test relerr(y, hcat([naive_unnormalised_dft(x[:, b], -1) for b in 1:3]...)) < 10eps(T)
        z = copy(x)
        fft_batched!(z, z, (n,), 3, 1)
        @test relerr(z, hcat([naive_unnormalised_dft(x[:, b], 1) for b in 1:3]...)) < 10eps(T)
    end
end

@testset "rfft_batched! / irfft_batched! are the half of the full DFT and its inverse" begin
    for T in (Float32, Float64), n in ((8, 6), (7, 5), (1, 4))
        x = randn(T, n..., 2)
        h = Array{Complex{T}}(undef, n[1] ÷ 2 + 1, n[2:end]..., 2)
        rfft_batched!(h, x, n, 2)
        full = complex(x)
        fft_batched!(full, full, n, 2, -1)
        @test relerr(h, full[1:n[1]÷2+1, :, :]) < 10eps(T)
        back = similar(x)
        irfft_batched!(back, copy(h), n, 2)
        @test relerr(back ./ prod(n), x) < 10eps(T)
    end
end

@testset "batch of one and empty batch" begin
    x = randn(ComplexF32, 4, 4, 1)
    y = similar(x)
    fft_batched!(y, x, (4, 4), 1, -1)
    @test y[1, 1, 1] ≈ sum(x)
    e = Array{ComplexF32}(undef, 4, 4, 0)
    @test fft_batched!(similar(e), e, (4, 4), 0, -1) isa Array
end

@testset "plans are cached and sizes are checked" begin
    x = randn(ComplexF64, 6, 2)
    fft_batched!(similar(x), x, (6,), 2, -1)
    count = length(PLAN_CACHE)
    fft_batched!(similar(x), x, (6,), 2, -1)
    @test length(PLAN_CACHE) == count
    @test_throws DimensionMismatch fft_batched!(similar(x, 5), x, (6,), 2, -1)
    p = fftw_plan(Float64, :c2c, [IODim(6, 1, 1)], IODim[], FFTW_FORWARD, 0, 0, false)
    @test p != C_NULL
    @test fftw_plan(Float64, :c2c, [IODim(6, 1, 1)], IODim[], FFTW_FORWARD, 0, 0, false) == p
end

@testset "measuring a plan never touches the caller's arrays" begin
    x = randn(ComplexF32, 10, 3)
    keep = copy(x)
    y = zeros(ComplexF32, 10, 3)
    fft_batched!(y, x, (10,), 3, -1)   # first use of this shape: planned with FFTW_MEASURE
    @test x == keep
    @test relerr(y[:, 2], naive_unnormalised_dft(x[:, 2], -1)) < 1e-5
end
