# Slice geometry and translation kernels.
import LinearAlgebra
using RecovarCore: gridpoint_coords!, nearest_gridpoint_indices!, translate_images!, translate_lattice!,
                   cis_minus_2pi, translation_phase, lattice_axis, packed_columns, plane_grid_points

function random_rotation(rng)
    q, r = LinearAlgebra.qr(randn(rng, 3, 3))
    q = Matrix(q) * LinearAlgebra.Diagonal(sign.(LinearAlgebra.diag(r)))
    LinearAlgebra.det(q) < 0 && (q[:, 1] .*= -1)
    return q
end

"NumPy (n, 3, 3) rotations as the Julia (3, 3, n) array the kernels receive."
julia_rotations(Rs) = cat([permutedims(R) for R in Rs]...; dims=3)

@testset "gridpoint coordinates are (kx, ky, 0)·u @ R + center" begin
    rng = MersenneTwister(2)
    Rs = [Matrix{Float64}(LinearAlgebra.I, 3, 3), random_rotation(rng), random_rotation(rng)]
    for (N, V) in ((8, 8), (9, 9), (8, 16))
        out = zeros(3, N * N, 3)
        gridpoint_coords!(out, julia_rotations(Rs), N, V, 0)
        kx, ky = plane_grid_points(N, false)
        u = V ÷ N
        for i in 1:3, p in 1:N*N
            @test out[:, p, i] ≈ vec([kx[p] ky[p] 0.0] * u * Rs[i]) .+ V ÷ 2 atol = 1e-12
        end
        half = zeros(3, N * (N ÷ 2 + 1), 3)
        gridpoint_coords!(half, julia_rotations(Rs), N, V, 1)
        idx = vec([c + (r - 1) * N for c in packed_columns(N), r in 1:N])
        @test half == out[:, idx, :]
    end
end

@testset "nearest indices round half away from zero and clip" begin
    R = [0.5 sqrt(3) / 2 0.0; -sqrt(3) / 2 0.5 0.0; 0.0 0.0 1.0]   # exact .5 ties
    N = 8
    coords = zeros(3, N * N, 1)
    gridpoint_coords!(coords, julia_rotations([R]), N, N, 0)
    idx = zeros(Int32, N * N, 1)
    nearest_gridpoint_indices!(idx, julia_rotations([R]), N, N, N, N, 0)
    for p in 1:N*N
        i = [clamp(round(Int, coords[d, p, 1], RoundNearestTiesAway), 0, N - 1) for d in 1:3]
        @test idx[p, 1] == (i[1] * N + i[2]) * N + i[3]
    end
    @test any(x -> x - trunc(x) == 0.5, coords)
end

@testset "phases: cis_minus_2pi is exp(-2πi x), translations compose" begin
    for x in (0.0, 0.25, -0.3, 12.7, -1e6 + 0.125)
        @test cis_minus_2pi(x) ≈ cis(-2 * big(pi) * big(x)) atol = 1e-15
    end
    @test translation_phase(0.25, -0.125, 3.0, 2.0) ≈ cis_minus_2pi(0.25 * 3.0) * cis_minus_2pi(-0.125 * 2.0)
    rng = MersenneTwister(3)
    for N in (8, 9), half in (0, 1)
        npix = half == 1 ? N * (N ÷ 2 + 1) : N * N
        img = randn(rng, ComplexF64, npix, 2)
        a = randn(rng, 2, 1, 2) .* 4
        b = randn(rng, 2, 1, 2) .* 4
        step1 = zeros(ComplexF64, npix, 1, 2)
        translate_images!(step1, img, a, N, half)
        step2 = zeros(ComplexF64, npix, 1, 2)
        translate_images!(step2, step1[:, 1, :], b, N, half)
        once = zeros(ComplexF64, npix, 1, 2)
        translate_images!(once, img, a .+ b, N, half)
        @test step2 ≈ once rtol = 1e-13
    end
end

@testset "translate_images! equals the lattice form; half is packed full" begin
    rng = MersenneTwister(4)
    N = 10
    img = randn(rng, ComplexF32, N * N, 3)
    t = randn(rng, 2, 1, 3) .* 3
    full = zeros(ComplexF64, N * N, 1, 3)
    translate_images!(full, ComplexF64.(img), t, N, 0)
    axis = lattice_axis(N)
    lattice = permutedims(hcat(repeat(axis, N), repeat(axis, inner=N)))
    generic = zeros(ComplexF64, N * N, 3)
    translate_lattice!(generic, ComplexF64.(img), t[:, 1, :], lattice)
    @test full[:, 1, :] ≈ generic rtol = 1e-14
    idx = vec([c + (r - 1) * N for c in packed_columns(N), r in 1:N])
    half = zeros(ComplexF64, length(idx), 1, 3)
    translate_images!(half, ComplexF64.(img[idx, :]), t, N, 1)
    @test half ≈ full[idx, :, :] rtol = 1e-14
    single = zeros(ComplexF32, N * N, 1, 3)
    translate_images!(single, img, Float32.(t), N, 0)
    @test single ≈ full rtol = 1e-6
    @test_throws DimensionMismatch translate_images!(zeros(ComplexF64, N * N, 1, 3), img, zeros(2, 1, 2), N, 0)
end
