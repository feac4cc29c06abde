# Exported Fourier, padding, translation, geometry and FSC API (src/api/fourier.jl,
# geometry.jl, fsc.jl): conventions against naive definitions, round trips, edge cases.
using LinearAlgebra: det, I
using Random: MersenneTwister

@testset "centered_fft is the naive centered DFT; inverses round-trip (size $dims)" for dims in ((6, 5), (7, 4, 3), (1, 8))
    rng = MersenneTwister(sum(dims))
    x = randn(rng, ComplexF64, dims...)
    @test centered_fft(x) ≈ naive_centered_dft(x)
    @test centered_ifft(centered_fft(x)) ≈ x
    r = randn(rng, Float64, dims...)
    h = centered_rfft(r)
    @test size(h, 1) == dims[1] ÷ 2 + 1
    # the packed columns are the nonnegative (then, even n, Nyquist) frequencies
    full = centered_fft(r)
    c = dims[1] ÷ 2 + 1
    @test h[1:(dims[1] - 1) ÷ 2 + 1, ntuple(_ -> Colon(), length(dims) - 1)...] ≈
          full[c:c + (dims[1] - 1) ÷ 2, ntuple(_ -> Colon(), length(dims) - 1)...]
    @test centered_irfft(h, dims[1]) ≈ r
    @test eltype(centered_fft(Float32.(r))) == ComplexF32
end

@testset "batch dims, padding, translation" begin
    rng = MersenneTwister(4)
    stack = randn(rng, Float32, 8, 8, 3)
    spectra = centered_fft(stack, 1:2)
    @test spectra[:, :, 2] ≈ centered_fft(stack[:, :, 2])
    @test_throws ArgumentError centered_fft(stack, [1, 3])
    @test_throws ArgumentError centered_fft(randn(2, 2, 2, 2, 2), 1:4)
    p = zero_pad(stack, 4, 1:2)
    @test size(p) == (12, 12, 3) && p[3:10, 3:10, :] == stack && sum(abs, p) ≈ sum(abs, stack)
    @test crop(p, 4, 1:2) == stack
    @test_throws ArgumentError zero_pad(stack, -1)
    # an integer shift of the spectrum's image is a circular shift of the image
    img = randn(rng, Float64, 8, 8, 1)
    moved = real(centered_ifft(translate(centered_fft(img, 1:2), reshape([2.0, -1.0], 2, 1)), 1:2))
    @test moved ≈ circshift(img, (2, -1, 0))
    half = translate(centered_rfft(img, 1:2), reshape([2.0, -1.0], 2, 1), HalfGrid())
    @test centered_irfft(half, 8, 1:2) ≈ circshift(img, (2, -1, 0))
end

@testset "random rotations, slice points" begin
    rng = MersenneTwister(9)
    Rs = random_rotations(rng, 20, Float64)
    @test all(R -> R' * R ≈ Matrix(I, 3, 3) && det(R) ≈ 1, Rs)
    @test isempty(random_rotations(rng, 0))
    P = ProjectionPlan(Linear(), (8, 8, 8), [Matrix{Float64}(I, 3, 3)]; coordinate_type=Float64)
    g = slice_points(P)
    @test size(g) == (3, 64, 1)
    # identity pose: pixel (kx, ky) samples (i0, i1, i2) = (kx, ky, 0) + 4
    @test g[:, 1, 1] == [0.0, 0.0, 4.0] && g[:, 2, 1] == [1.0, 0.0, 4.0] && g[:, 9, 1] == [0.0, 1.0, 4.0]
end

@testset "fsc and resolution" begin
    rng = MersenneTwister(11)
    x = randn(rng, ComplexF64, 9, 9, 9)
    @test all(≈(1), fsc(x, x))
    @test all(≈(-1), fsc(x, -x))
    @test length(fsc(x, x)) == 5
    @test resolution(fsc(x, x), 9, 2.0) === nothing
    curve = [1.0, 0.9, 0.5, 0.1, 0.0]
    # crosses 0.143 between shells 2 and 3: frequency (2 + 0.357/0.4)/(8·2) 1/Å
    @test resolution(curve, 8, 2.0) ≈ 16 / (2 + 0.357 / 0.4)
    @test_throws DimensionMismatch fsc(x, randn(rng, ComplexF64, 8, 8, 8))
end
