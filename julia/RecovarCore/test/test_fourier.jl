# fourier.jl: centered transforms. naive_centered_dft (helpers.jl) is the definition.
using RecovarCore: centered_fft!, centered_rfft!, centered_irfft!, fft_batched!, TWO_STAGE_ELEMENTS

"Centered transform from circshift + plain FFT (an independent route to the same result)."
function centered_by_circshift(x, dims, direction)
    sz = size(x)
    amounts = ntuple(d -> d in dims ? (direction == -1 ? sz[d] ÷ 2 : -(sz[d] ÷ 2)) : 0, ndims(x))
    y = complex(circshift(x, amounts))
    for d in dims   # one axis at a time: bring it first, transform, put it back
        perm = [d; setdiff(1:ndims(y), d)]
        z = permutedims(y, perm)
        fft_batched!(z, copy(z), (size(z, 1),), length(z) ÷ size(z, 1), direction)
        y = permutedims(z, invperm(perm))
    end
    return circshift(y, amounts)
end

"Packed half of a centered spectrum along dim 1: columns n÷2 … n−1 (and 0 for even n)."
packed_half_of_centered(F) = F[[mod(size(F, 1) ÷ 2 + j, size(F, 1)) + 1 for j in 0:size(F, 1)÷2], ntuple(_ -> Colon(), ndims(F) - 1)...]

@testset "centered_fft! equals the naive centered DFT on tiny arrays (odd and even)" begin
    for T in (Float32, Float64), dims in ((8,), (7,), (4, 6), (5, 3), (4, 5, 6), (3, 3, 3))
        x = randn(Complex{T}, dims...)
        y = similar(x)
        centered_fft!(y, x, length(dims), -1, 1.0)
        @test relerr(y, naive_centered_dft(x)) < 20eps(T)
    end
end

@testset "forward then inverse is the identity; real input equals complex input" begin
    for T in (Float32, Float64), dims in ((8, 8, 3), (7, 5, 2), (6, 5, 4, 2))
        nd = length(dims) - 1
        x = randn(Complex{T}, dims...)
        F = similar(x)
        centered_fft!(F, x, nd, -1, 1.0)
        back = similar(x)
        centered_fft!(back, F, nd, 1, 1 / prod(dims[1:nd]))
        @test relerr(back, x) < 20eps(T)
        xr = real(x)
        Fr = similar(x)
        centered_fft!(Fr, xr, nd, -1, 1.0)
        centered_fft!(F, complex(xr), nd, -1, 1.0)
        @test relerr(Fr, F) < 20eps(T)
    end
end

@testset "in place (dst === src) gives the out-of-place result" begin
    x = randn(ComplexF32, 6, 7, 4)
    expected = similar(x)
    centered_fft!(expected, x, 2, -1, 0.5)
    centered_fft!(x, x, 2, -1, 0.5)
    @test relerr(x, expected) < 1e-6
end

@testset "inner batch dims: transform over dims 2:4 equals per-column transforms" begin
    x = randn(ComplexF64, 3, 4, 5, 6)
    y = similar(x)
    centered_fft!(y, x, 2, 4, 1, 1.0)
    for i in 1:3
        @test relerr(y[i, :, :, :], centered_by_circshift(x[i, :, :, :], 1:3, 1)) < 1e-12
    end
end

@testset "real transforms: half of the full centered spectrum, and back" begin
    for T in (Float32, Float64), dims in ((8, 8, 2), (7, 7, 1), (6, 5, 3), (5, 6, 4, 2), (9,))
        nd = length(dims) == 1 ? 1 : length(dims) - 1
        x = randn(T, dims...)
        h = Array{Complex{T}}(undef, dims[1] ÷ 2 + 1, dims[2:end]...)
        centered_rfft!(h, x, nd, 1.0)
        @test relerr(h, packed_half_of_centered(centered_by_circshift(x, 1:nd, -1))) < 20eps(T)
        keep = copy(h)
        back = similar(x)
        centered_irfft!(back, h, nd, 1 / prod(dims[1:nd]))
        @test relerr(back, x) < 20eps(T)
        @test h == keep   # the c2r transform works on a copy
    end
end

@testset "real transforms over dims in the middle (inner batch)" begin
    x = randn(Float64, 2, 6, 5, 3)
    h = Array{ComplexF64}(undef, 2, 4, 5, 3)
    centered_rfft!(h, x, 2, 3, 1.0)
    for i in 1:2
        @test relerr(h[i, :, :, :], packed_half_of_centered(centered_by_circshift(x[i, :, :, :], 1:2, -1))) < 1e-12
    end
    back = similar(x)
    centered_irfft!(back, h, 2, 3, 1 / 30)
    @test relerr(back, x) < 1e-12
end

@testset "large transforms (two-stage path: slices then pencils)" begin
    dims = (48, 40, 70)
    @test prod(dims) > TWO_STAGE_ELEMENTS
    x = randn(ComplexF32, dims...)
    y = similar(x)
    centered_fft!(y, x, 3, -1, 1.0)
    @test relerr(y, centered_by_circshift(x, 1:3, -1)) < 1e-5
    centered_fft!(y, y, 3, 1, 1 / prod(dims))
    @test relerr(y, x) < 1e-5
    xr = real(x)
    h = Array{ComplexF32}(undef, 25, 40, 70)
    centered_rfft!(h, xr, 3, 1.0)
    @test relerr(h, packed_half_of_centered(centered_by_circshift(xr, 1:3, -1))) < 1e-5
    back = similar(xr)
    centered_irfft!(back, h, 3, 1 / prod(dims))
    @test relerr(back, xr) < 1e-5
    img = randn(ComplexF64, 401, 350)
    out = similar(img)
    centered_fft!(out, img, 2, -1, 1.0)
    @test relerr(out, centered_by_circshift(img, 1:2, -1)) < 1e-12
end

@testset "batch of one, empty batch, Float64" begin
    x = randn(ComplexF64, 5, 5, 1)
    y = similar(x)
    centered_fft!(y, x, 2, -1, 1.0)
    @test relerr(y[:, :, 1], naive_centered_dft(x[:, :, 1])) < 1e-12
    e = Array{ComplexF32}(undef, 4, 4, 0)
    @test centered_fft!(similar(e), e, 2, -1, 1.0) isa Array
    @test centered_rfft!(Array{ComplexF32}(undef, 3, 4, 0), Array{Float32}(undef, 4, 4, 0), 2, 1.0) isa Array
    @test centered_irfft!(Array{Float32}(undef, 4, 4, 0), Array{ComplexF32}(undef, 3, 4, 0), 2, 1.0) isa Array
end

@testset "sizes and ranges are checked" begin
    x = randn(ComplexF32, 4, 4)
    @test_throws DimensionMismatch centered_fft!(similar(x, 4, 5), x, 2, -1, 1.0)
    @test_throws ArgumentError centered_fft!(similar(x), x, 3, -1, 1.0)
    @test_throws ArgumentError centered_fft!(similar(x), x, 1, 2, 0, 1.0)
    @test_throws ArgumentError centered_fft!(similar(x, 2, 2, 2, 2), randn(ComplexF32, 2, 2, 2, 2), 1, 4, -1, 1.0)
    @test_throws DimensionMismatch centered_rfft!(similar(x), real(x), 2, 1.0)
    @test_throws DimensionMismatch centered_irfft!(real(x), x, 2, 1.0)
end
