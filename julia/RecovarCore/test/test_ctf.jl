# CTF kernels: elementary functions, the per-pixel CTF, grid layouts, antialiasing, dose filters.
using RecovarCore: sincos_fast, exp_fast, CTFConstants, ctf_value, ctf_value_undamped, ctf_grid!,
                   evaluate_ctf!, box_downsample!, dose_filters!, critical_exposure!, grid_frequencies,
                   packed_columns, frequency_axis, electron_wavelength

"recovar's CTF formula with atan2, in Float64 (docs/conventions.md §9)."
function textbook_ctf(p, kx, ky)
    dfu, dfv, dfang, volt, cs, w, phase, bfac, contrast = p
    λ = electron_wavelength(volt)
    s2 = kx^2 + ky^2
    θ = atan(ky, kx)
    Δf = (dfu + dfv + (dfu - dfv) * cos(2 * (θ - deg2rad(dfang)))) / 2
    γ = 2π * (-Δf * λ * s2 / 2 + cs * 1e7 * λ^3 * s2^2 / 4) - deg2rad(phase)
    return (sqrt(1 - w^2) * sin(γ) - w * cos(γ)) * exp(-bfac * s2 / 4) * contrast
end

rows(n) = [[15000.0 + 1000i, 14000.0 + 900i, 10.0 * i, 300.0, 2.7, 0.1, 5.0 * i, 10.0 * i, 1.0 - 0.1i] for i in 0:n-1]
param_matrix(rs) = reduce(hcat, rs)

@testset "sincos_fast and exp_fast are accurate to a few ulp" begin
    xs = vcat(collect(range(-5000.0, 5000.0, length=200_001)), [0.0, -0.0, 1e-300, π / 4, π / 2, 3π / 4])
    @test maximum(x -> abs(sincos_fast(x)[1] - sin(big(x))), xs) < 4e-16 * 5000
    @test maximum(x -> abs(sincos_fast(x)[2] - cos(big(x))), xs) < 4e-16 * 5000
    @test maximum(x -> abs(sincos_fast(x)[1] - sin(big(x))), range(-10.0, 10.0, length=10001)) < 3e-16
    es = range(-700.0, 700.0, length=100_001)
    @test maximum(x -> Float64(abs(exp_fast(x) - exp(big(x))) / exp(big(x))), es) < 3e-16
    @test exp_fast(0.0) == 1.0 && exp_fast(-1000.0) == 0.0 && exp_fast(1000.0) == Inf
    @test isnan(exp_fast(NaN)) && all(isnan, sincos_fast(NaN))
end

@testset "ctf_value equals the textbook formula with atan2" begin
    rng = MersenneTwister(1)
    for trial in 1:20
        p = [5000 + 25000rand(rng), 5000 + 25000rand(rng), 360rand(rng) - 180, 300.0, 2.7, 0.3rand(rng),
             90rand(rng), 100rand(rng) - 20, 0.5 + rand(rng)]
        c = CTFConstants(p...)
        for _ in 1:50
            kx, ky = 0.8rand(rng) - 0.4, 0.8rand(rng) - 0.4
            @test ctf_value(c, kx, ky) ≈ textbook_ctf(p, kx, ky) atol = 1e-11
        end
    end
    c = CTFConstants(20000.0, 19000.0, 30.0, 300.0, 2.7, 0.07, 0.0, 50.0, 0.5)
    @test ctf_value(c, 0.0, 0.0) ≈ -0.07 * 0.5 atol = 1e-15
    @test ctf_value(c, 0.1, -0.2) == ctf_value(c, -0.1, 0.2)     # symmetric under k → −k
    undamped = CTFConstants(20000.0, 19000.0, 30.0, 300.0, 2.7, 0.07, 0.0, 0.0, 0.5)
    @test ctf_value_undamped(undamped, 0.1, 0.2) == ctf_value(undamped, 0.1, 0.2)
    @test isnan(ctf_value(CTFConstants(1e4, 1e4, 0.0, 300.0, 2.7, 1.5, 0.0, 0.0, 1.0), 0.1, 0.1))
end

@testset "ctf_grid!: half grid is the packed full grid, Float32 is Float64 rounded" begin
    for N in (8, 9), antialias in (0, 1, 2), dose_mode in (0, 1, 2)
        (antialias != 0 && dose_mode != 0) && continue
        p = param_matrix(rows(3))
        p = vcat(p, [0.0 3.0 40.0], [0.0 20.0 -45.0])
        full = zeros(N * N, 3)
        half = zeros(N * (N ÷ 2 + 1), 3)
        ctf_grid!(full, p, N, 1.3, 0, antialias, dose_mode, 2.0, 3.0)
        ctf_grid!(half, p, N, 1.3, 1, antialias, dose_mode, 2.0, 3.0)
        idx = [c + (r - 1) * N for c in packed_columns(N), r in 1:N]
        @test half == full[vec(idx), :]
        full32 = zeros(Float32, N * N, 3)
        ctf_grid!(full32, Float32.(p), N, 1.3, 0, antialias, dose_mode, 2.0, 3.0)
        full64 = zeros(N * N, 3)
        ctf_grid!(full64, Float64.(Float32.(p)), N, 1.3, 0, antialias, dose_mode, 2.0, 3.0)
        @test full32 == Float32.(full64)
    end
end

@testset "ctf_grid! plain mode equals evaluate_ctf! on the grid frequencies" begin
    N = 10
    p = param_matrix(rows(4))
    kx, ky = grid_frequencies(N, 1.1, false)
    grid = zeros(N * N, 4)
    ctf_grid!(grid, p, N, 1.1, 0, 0, 0, 0.0, 0.0)
    points = zeros(N * N, 4)
    evaluate_ctf!(points, permutedims(hcat(kx, ky)), p)
    @test grid == points
    @test grid[N * (N ÷ 2) + N ÷ 2 + 1, 1] ≈ -0.1 atol = 1e-12      # DC pixel
end

@testset "antialiasing equals box_downsample! of the double-resolution CTF" begin
    N = 7
    p = param_matrix(rows(2))
    fine = zeros(4N * N, 2)
    ctf_grid!(fine, p, 2N, 1.4, 0, 0, 0, 0.0, 0.0)
    for half in (0, 1), squared in (0, 1)
        npix = half == 1 ? N * (N ÷ 2 + 1) : N * N
        fused = zeros(npix, 2)
        ctf_grid!(fused, p, N, 1.4, half, 1 + squared, 0, 0.0, 0.0)
        separate = zeros(npix, 2)
        box_downsample!(separate, fine, N, half, squared)
        @test fused ≈ separate rtol = 1e-14
    end
    # pixel (0, 0): the zero padding leaves 4 of the 9 fine samples
    out = zeros(N * N, 2)
    box_downsample!(out, fine, N, 0, 0)
    @test out[1, 1] ≈ (fine[1, 1] + fine[2, 1] + fine[2N + 1, 1] + fine[2N + 2, 1]) / 9
end

@testset "dose filters and critical exposure" begin
    N = 12
    out = zeros(N * N, 3)
    dose_filters!(out, [0.0, 20.0, 300.0], [0.0, 60.0, 0.0], N, 1.0, 300.0, 0)
    @test all(out[:, 1] .== 1.0)
    dc = N * (N ÷ 2) + N ÷ 2 + 1
    @test out[dc, 2] ≈ 0.5
    @test any(iszero, out[:, 3]) && out[dc, 3] == 1.0
    ce = zeros(3)
    critical_exposure!(ce, [0.0, 0.1, -1.0], [1.0, 0.75, 1.0])
    @test ce[1] == Inf && ce[2] ≈ 0.245 * 0.75 * 0.1^-1.665 + 2.81 && isnan(ce[3])
end

@testset "phases beyond sincos_fast's range take the exact path" begin
    p = param_matrix(rows(2))
    out = zeros(16, 2)
    ctf_grid!(out, p, 4, 1e-5, 0, 0, 0, 0.0, 0.0)        # 1e-5 Å pixels: |γ| ~ 1e12 rad
    kx, ky = grid_frequencies(4, 1e-5, false)
    c = CTFConstants(p, 2)
    @test !RecovarCore.fast_ctf_ok(c, RecovarCore.max_squared_frequency(kx, ky))
    @test out[:, 2] == [RecovarCore.ctf_value_accurate(c, kx[q], ky[q]) for q in 1:16]
    @test all(abs.(out) .<= 1.0)
end

@testset "bad sizes throw" begin
    p = param_matrix(rows(2))
    @test_throws DimensionMismatch ctf_grid!(zeros(10, 2), p, 4, 1.0, 0, 0, 0, 0.0, 0.0)
    @test_throws DimensionMismatch ctf_grid!(zeros(16, 2), p[1:8, :], 4, 1.0, 0, 0, 0, 0.0, 0.0)
    @test_throws DimensionMismatch ctf_grid!(zeros(16, 2), p, 4, 1.0, 0, 0, 2, 0.0, 0.0)
    @test_throws ArgumentError ctf_grid!(zeros(16, 2), p, 4, -1.0, 0, 0, 0, 0.0, 0.0)
    @test_throws DimensionMismatch evaluate_ctf!(zeros(3, 2), zeros(2, 4), p)
end
