# image_spectra.jl: the one-pass padded, centred, translated half spectra against the composed
# path (explicit padding with the mask, centred rfft, then translate_images!).
using RecovarCore: padded_spectra!, padded_spectra_kernel!, centered_rfft!, translate_images!
using Random: MersenneTwister

"The composed path: pad at offset P÷2 − D÷2, centred rfft over x and y, translate (Float64)."
function composed_spectra(images, mask, translations, P)
    D, _, n = size(images)
    o = P ÷ 2 - D ÷ 2
    padded = zeros(Float64, P, P, n)
    masked = mask === nothing ? images : images .* mask
    padded[o+1:o+D, o+1:o+D, :] = masked
    half = Array{ComplexF64}(undef, P ÷ 2 + 1, P, n)
    centered_rfft!(half, padded, 1, 2, 1.0)
    out = Array{ComplexF64}(undef, (P ÷ 2 + 1) * P, 1, n)
    translate_images!(out, reshape(half, :, n), reshape(Float64.(translations), 2, 1, n), P, 1)
    return reshape(out, P ÷ 2 + 1, P, n)
end

@testset "padded_spectra! equals the composed path (D $D, P $P, $T, mask $with_mask)" for (D, P) in
        ((8, 16), (7, 14), (8, 8), (7, 7), (6, 11), (5, 12), (1, 4)), T in (Float32, Float64), with_mask in (false, true)
    rng = MersenneTwister(D * 100 + P)
    n = 5
    images = randn(rng, T, D, D, n)
    mask = with_mask ? rand(rng, T, D, D) : nothing
    translations = T.(3 .* randn(rng, 2, n))
    out = Array{Complex{T}}(undef, P ÷ 2 + 1, P, n)
    padded_spectra!(out, images, mask, translations)
    expected = composed_spectra(Float64.(images), mask === nothing ? nothing : Float64.(mask), translations, P)
    @test relerr(out, expected) < (T == Float32 ? 2e-6 : 1e-13)
    # image by image: the same numbers as a batch of one
    single = Array{Complex{T}}(undef, P ÷ 2 + 1, P, 1)
    padded_spectra!(single, images[:, :, 3:3], mask, translations[:, 3:3])
    @test single[:, :, 1] == out[:, :, 3]
end

@testset "padded_spectra!: repeated calls, other sizes in between (D $D, P $P)" for (D, P) in ((6, 12), (5, 11))
    rng = MersenneTwister(7)
    expected_of(images, mask, t) = composed_spectra(Float64.(images), mask === nothing ? nothing : Float64.(mask), t, P)
    for round in 1:3          # no state of one call leaks into the next
        n = 3 + round
        images = 10 .* randn(rng, Float32, D, D, n)
        mask = isodd(round) ? rand(rng, Float32, D, D) : nothing
        t = Float32.(2 .* randn(rng, 2, n))
        out = Array{ComplexF32}(undef, P ÷ 2 + 1, P, n)
        padded_spectra!(out, images, mask, t)
        @test relerr(out, expected_of(images, mask, t)) < 2e-6
        other = Array{ComplexF32}(undef, 5, 8, 1)                  # another size in between
        padded_spectra!(other, randn(rng, Float32, 4, 4, 1), nothing, zeros(Float32, 2, 1))
    end
end

@testset "padded_spectra: an integer shift is a circular shift of the padded image" begin
    rng = MersenneTwister(3)
    D, P = 6, 12
    images = randn(rng, Float64, D, D, 1)
    spectra = padded_spectra(images, reshape([2.0, -3.0], 2, 1), P)
    padded = zero_pad(images, P - D, 1:2)
    # the lattice is recovar's float32 grid (lattice_axis), so integer shifts are exact to ~1e-7
    @test relerr(centered_irfft(spectra, P, 1:2), circshift(padded, (2, -3, 0))) < 1e-6
    @test eltype(padded_spectra(Float32.(images), zeros(2, 1), P)) == ComplexF32
end

@testset "padded_spectra: empty batch, bad sizes, C-ABI form" begin
    empty = Array{ComplexF32}(undef, 5, 8, 0)
    @test padded_spectra!(empty, zeros(Float32, 4, 4, 0), nothing, zeros(Float32, 2, 0)) === empty
    out = Array{ComplexF32}(undef, 5, 8, 2)
    @test_throws DimensionMismatch padded_spectra!(out, zeros(Float32, 4, 4, 3), nothing, zeros(Float32, 2, 3))
    @test_throws DimensionMismatch padded_spectra!(out, zeros(Float32, 4, 4, 2), nothing, zeros(Float32, 3, 2))
    @test_throws DimensionMismatch padded_spectra!(out, zeros(Float32, 4, 4, 2), ones(Float32, 3, 3), zeros(Float32, 2, 2))
    @test_throws DimensionMismatch padded_spectra!(out, zeros(Float32, 4, 5, 2), nothing, zeros(Float32, 2, 2))
    @test_throws ArgumentError padded_spectra!(Array{ComplexF32}(undef, 3, 4, 2), zeros(Float32, 6, 6, 2), nothing,
                                               zeros(Float32, 2, 2))
    # NumPy shapes: out (n, P(P÷2+1)) is Julia (P(P÷2+1), n); an empty mask means none
    rng = MersenneTwister(5)
    images = randn(rng, Float32, 4, 4, 2)
    t = randn(rng, Float32, 2, 2)
    flat = Array{ComplexF32}(undef, 5 * 8, 2)
    padded_spectra_kernel!(flat, images, zeros(Float32, 0, 0), t, 8)
    padded_spectra!(out, images, nothing, t)
    @test reshape(flat, 5, 8, 2) == out
    @test_throws DimensionMismatch padded_spectra_kernel!(flat, images, zeros(Float32, 0, 0), t, 9)
end
