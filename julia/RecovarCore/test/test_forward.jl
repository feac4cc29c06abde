# Forward model kernels (forward.jl): adjoint identities with the CTF, AᵀAv relations, the
# inline CTF of every mode against ctf_grid!, blocked float32 accumulation, bad arguments.
# Arrays are built as Julia sees NumPy buffers: images (npix, n), rotations (3, 3, n) with
# rotations[b, a, i] = R_i[a, b], CTF parameters (K, n).

using Test, LinearAlgebra, Random
using RecovarCore
const RCF = RecovarCore

function forward_test_rotations(rng, n, T)
    R = zeros(T, 3, 3, n)
    for i in 1:n
        q = randn(rng, 4)
        a, b, c, d = q ./ norm(q)
        M = [1-2(c^2+d^2) 2(b*c-d*a) 2(b*d+c*a); 2(b*c+d*a) 1-2(b^2+d^2) 2(c*d-b*a); 2(b*d-c*a) 2(c*d+b*a) 1-2(b^2+c^2)]
        R[:, :, i] = permutedims(M)
    end
    return R
end

function forward_test_params(rng, n; columns=9)
    P = zeros(Float64, columns, n)
    for i in 1:n
        dfu = 5000 + 25000 * rand(rng)
        P[1:9, i] = [dfu, dfu - 600 * rand(rng), 180 * rand(rng), 300, 2.7, 0.1, 0, 40 * rand(rng), 1]
    end
    return P
end

# kernel wrappers: N³ volume, N×N images, default clip radius N/2 − 1
fwd_call(out, vol, R, kind, P, N; order=1, hv=0, hi=0, voxel=4.0, dpt=0.0, apt=0.0) =
    RCF.forward_model_kernel!(out, vol, R, kind, P, voxel, dpt, apt, order, hv, hi, N, N, N, N, N,
                              Float64((N ÷ 2 - 1)^2), 1)
adj_call(out, s, R, kind, P, N; order=1, hv=0, hi=0, voxel=4.0, transpose=0) =
    RCF.adjoint_forward_model_kernel!(out, s, R, kind, P, voxel, 0.0, 0.0, order, hv, hi, N, N, N, N, N,
                                      Float64((N ÷ 2 - 1)^2), 1, transpose)
atav_call(out, vol, R, kind, P, noise, a, b, N; order=1, voxel=4.0) =
    RCF.compute_AtAv_kernel!(out, vol, R, kind, P, voxel, 0.0, 0.0, noise, a, b, order, N, N, N, N,
                             Float64((N ÷ 2 - 1)^2), 1)

const NO_CTF_DATA = zeros(0, 0)
half_width(N) = N ÷ 2 + 1

@testset "forward model is adjoint of its backprojection, with CTF (float64)" begin
    rng = MersenneTwister(11)
    N, n = 8, 3
    R = forward_test_rotations(rng, n, Float64)
    P = forward_test_params(rng, n)
    for order in (0, 1)
        forward(v) = (out = zeros(ComplexF64, N * N, n); fwd_call(out, v, R, RCF.CTF_SPA, P, N; order=order); out)
        adjoint(y) = (out = zeros(ComplexF64, N^3); adj_call(out, y, R, RCF.CTF_SPA, P, N; order=order); out)
        @test adjoint_mismatch(forward, adjoint, randn(rng, ComplexF64, N^3), randn(rng, ComplexF64, N * N, n)) < 1e-13
    end
    # cubic: the exact transpose (cubic_transpose = 1) is the adjoint of slicing coefficients
    forward3(v) = (out = zeros(ComplexF64, N * N, n); fwd_call(out, v, R, RCF.CTF_SPA, P, N; order=3); out)
    transpose3(y) = (out = zeros(ComplexF64, N^3); adj_call(out, y, R, RCF.CTF_SPA, P, N; order=3, transpose=1); out)
    @test adjoint_mismatch(forward3, transpose3, randn(rng, ComplexF64, N^3), randn(rng, ComplexF64, N * N, n)) < 1e-13
end

@testset "half layouts: adjoint under the real inner product" begin
    rng = MersenneTwister(12)
    N, n = 8, 2
    Vh = N * N * half_width(N)
    R = forward_test_rotations(rng, n, Float64)
    P = forward_test_params(rng, n)
    h = randn(rng, ComplexF64, Vh)
    y = randn(rng, ComplexF64, N * N, n)
    Ah = zeros(ComplexF64, N * N, n)
    fwd_call(Ah, h, R, RCF.CTF_SPA, P, N; hv=1)
    Aty = zeros(ComplexF64, Vh)
    adj_call(Aty, y, R, RCF.CTF_SPA, P, N; hv=1)
    lhs = real(dot(Ah, y))
    rhs = real(dot(h, Aty))
    @test abs(lhs - rhs) <= 1e-12 * abs(lhs)
    # the half image is the packed full image
    full = zeros(ComplexF64, N * N, n)
    half = zeros(ComplexF64, N * half_width(N), n)
    v = randn(rng, ComplexF64, N^3)
    fwd_call(full, v, R, RCF.CTF_SPA, P, N)
    fwd_call(half, v, R, RCF.CTF_SPA, P, N; hi=1)
    packed = RCF.packed_columns(N)
    @test reshape(half, half_width(N), N, n) ≈ reshape(full, N, N, n)[packed, :, :] rtol = 1e-14
end

@testset "AᵀAv = Aᵀ(A v / σ²) for every noise layout and order" begin
    rng = MersenneTwister(13)
    N, n = 8, 3
    npix = N * N
    R = forward_test_rotations(rng, n, Float64)
    P = forward_test_params(rng, n)
    v = randn(rng, ComplexF64, N^3)
    noises = [(fill(2.0, 1), 1, 1), (rand(rng, npix) .+ 0.5, 1, npix), (rand(rng, 1, n) .+ 0.5, n, 1),
              (rand(rng, npix, n) .+ 0.5, n, npix)]
    for order in (0, 1, 3), (noise, a, b) in noises
        y = zeros(ComplexF64, npix, n)
        fwd_call(y, v, R, RCF.CTF_SPA, P, N; order=order)
        expected = zeros(ComplexF64, N^3)
        adj_call(expected, y ./ reshape(noise, b, a), R, RCF.CTF_SPA, P, N; order=order, transpose=1)
        actual = zeros(ComplexF64, N^3)
        atav_call(actual, v, R, RCF.CTF_SPA, P, noise, a, b, N; order=order)
        @test relerr(actual, expected) < 1e-13
    end
end

@testset "inline CTF equals ctf_grid! for every mode" begin
    rng = MersenneTwister(14)
    N, n = 8, 3
    R = forward_test_rotations(rng, n, Float32)
    v = randn(rng, ComplexF64, N^3)
    P = forward_test_params(rng, n; columns=11)
    P[10, :] = [0.0, 20.0, 40.0]
    P[11, :] = [0.0, -30.0, 60.0]
    # kind => (antialias, dose mode) of ctf_grid!
    modes = [(RCF.CTF_SPA, 0, 0), (RCF.CTF_SPA_ANTIALIASED, 1, 0), (RCF.CTF_TILT_SERIES, 0, 1), (RCF.CTF_CRYO_ET, 0, 2)]
    for ((kind, antialias, dose), hi) in Iterators.product(modes, (0, 1))
        npix = hi == 1 ? N * half_width(N) : N * N
        ctf = zeros(npix, n)
        RCF.ctf_grid!(ctf, P, N, 3.5, hi, antialias, dose, 2.0, 3.0)
        bare = zeros(ComplexF64, npix, n)
        fwd_call(bare, v, R, RCF.CTF_NONE, NO_CTF_DATA, N; hi=hi)
        out = zeros(ComplexF64, npix, n)
        fwd_call(out, v, R, kind, P, N; hi=hi, voxel=3.5, dpt=2.0, apt=3.0)
        @test relerr(out, bare .* ctf) < 1e-13
        tabulated = zeros(ComplexF64, npix, n)
        fwd_call(tabulated, v, R, RCF.CTF_TABULATED, ctf, N; hi=hi)
        @test relerr(tabulated, bare .* ctf) < 1e-15
    end
end

@testset "float32 backprojection of many images is accumulated in blocks" begin
    # identity rotations send every image to the same voxels: a plain float32 running sum
    # of the same value drifts with the number of images
    N = 4
    n = 3 * RCF.FLUSH_BLOCK + 17
    R = zeros(Float32, 3, 3, n)
    for i in 1:n
        R[1, 1, i] = R[2, 2, i] = R[3, 3, i] = 1
    end
    s = fill(0.3f0, N * N, n)
    single = zeros(Float32, N^3)
    adj_call(single, s, R, RCF.CTF_NONE, NO_CTF_DATA, N)
    double = zeros(Float64, N^3)
    adj_call(double, Float64.(s), R, RCF.CTF_NONE, NO_CTF_DATA, N)
    hit = double .!= 0
    @test any(hit)
    @test maximum(abs.(single[hit] .- double[hit]) ./ abs.(double[hit])) < 2e-6
    # AᵀAv accumulates the same way
    v = fill(0.3f0, N^3)
    single = zeros(Float32, N^3)
    atav_call(single, v, R, RCF.CTF_NONE, NO_CTF_DATA, Float32[1.0], 1, 1, N)
    double = zeros(Float64, N^3)
    atav_call(double, Float64.(v), R, RCF.CTF_NONE, NO_CTF_DATA, [1.0], 1, 1, N)
    @test maximum(abs.(single[hit] .- double[hit]) ./ abs.(double[hit])) < 2e-6
end

@testset "forward kernels refuse inconsistent arguments" begin
    rng = MersenneTwister(15)
    N, n = 8, 2
    R = forward_test_rotations(rng, n, Float32)
    P = forward_test_params(rng, n)
    v = zeros(ComplexF32, N^3)
    out = zeros(ComplexF32, N * N, n)
    @test_throws ArgumentError fwd_call(out, v, R, 9, P, N)                       # unknown CTF kind
    @test_throws DimensionMismatch fwd_call(out, v, R, RCF.CTF_SPA, P[1:8, :], N)   # too few parameters
    @test_throws DimensionMismatch fwd_call(out, v, R, RCF.CTF_SPA, P[:, 1:1], N)   # CTF rows ≠ images
    @test_throws DimensionMismatch fwd_call(out, v, R, RCF.CTF_TABULATED, zeros(5, n), N)
    @test_throws ArgumentError fwd_call(zeros(Float32, N * N, n), v, R, RCF.CTF_SPA, P, N)  # complex → real
    @test_throws DimensionMismatch fwd_call(out, v[1:10], R, RCF.CTF_SPA, P, N)
    acc = zeros(ComplexF32, N^3)
    @test_throws DimensionMismatch atav_call(acc, v, R, RCF.CTF_SPA, P, zeros(Float32, 3), 1, 3, N)
    @test_throws ArgumentError atav_call(zeros(ComplexF64, N^3), v, R, RCF.CTF_SPA, P, Float32[1], 1, 1, N)
end

@testset "vectorised trilinear rows give exactly the general path's values" begin
    rng = MersenneTwister(16)
    n = 3
    R = forward_test_rotations(rng, n, Float32)
    for (N, Nv, max_r2) in ((8, 8, 9.0), (9, 9, 16.0), (8, 16, 9.0), (8, 8, Inf), (7, 7, Inf))
        v = randn(rng, ComplexF32, Nv^3)
        for hi in (0, 1)
            npix = hi == 1 ? N * half_width(N) : N * N
            expected = zeros(ComplexF32, npix, n, 1)
            u = max(1, Nv ÷ N)
            RCF.slice_volume_kernel!(expected, reshape(v, :, 1), R, 1, 0, hi, Nv, Nv, Nv, N, N, max_r2, u)
            actual = zeros(ComplexF32, npix, n)
            RCF.forward_model_kernel!(actual, v, R, RCF.CTF_NONE, NO_CTF_DATA, 4.0, 0.0, 0.0, 1, 0, hi, Nv, Nv, Nv,
                                      N, N, max_r2, u)
            @test actual == reshape(expected, npix, n)
        end
        s = randn(rng, ComplexF32, N * N, n)
        expected = zeros(ComplexF32, Nv^3, 1)
        u = max(1, Nv ÷ N)
        RCF.adjoint_slice_volume_kernel!(expected, reshape(s, N * N, n, 1), R, 1, 0, 0, Nv, Nv, Nv, N, N, max_r2, u)
        actual = zeros(ComplexF32, Nv^3)
        RCF.adjoint_forward_model_kernel!(actual, s, R, RCF.CTF_NONE, NO_CTF_DATA, 4.0, 0.0, 0.0, 1, 0, 0, Nv, Nv, Nv,
                                          N, N, max_r2, u, 0)
        @test relerr(actual, vec(expected)) < 1e-6
    end
end

@testset "AᵀAv allocates the same whatever the number of images" begin
    rng = MersenneTwister(17)
    N = 8
    P = forward_test_params(rng, 400)
    R = forward_test_rotations(rng, 400, Float32)
    v = randn(rng, ComplexF32, N^3)
    noise = Float32[1.5]
    measure(n) = (out = zeros(ComplexF32, N^3);
                  Rn = R[:, :, 1:n]; Pn = P[:, 1:n];
                  atav_call(out, v, Rn, RCF.CTF_SPA, Pn, noise, 1, 1, N);   # compile / warm
                  fill!(out, 0);
                  @allocated atav_call(out, v, Rn, RCF.CTF_SPA, Pn, noise, 1, 1, N))
    small, large = measure(50), measure(400)
    # per-thread accumulators and row scratch only: at most one volume per thread plus a
    # few kilobytes, and no growth with 8× more images
    @test large <= small + 4096
    @test large <= Threads.nthreads() * sizeof(ComplexF32) * N^3 + 64 * 1024
end

# the two-pass reference of the row sources: dest[q + j + 1] = src[p + j + 1] · weights[j + 1]
# for the stored columns j in `columns`, in the element type of `dest`
function weigh_row!(dest::AbstractVector{T}, q, src, p, weights, columns) where {T}
    for j in columns
        dest[q + j + 1] = convert(T, src[p + j + 1]) * real(T)(weights[j + 1])
    end
    return dest
end

# one random rotation's row machinery for the row tests: (limit, geo, row buffer, prefetcher)
function row_setup(rng, T, order, layout, plane)
    limit = order isa RCF.Cubic ? typemax(Int) : (plane.h ÷ 2 - 1)^2
    R = forward_test_rotations(rng, 1, real(T))
    geo = RCF.slice_geometry(R, 1, 1, RCF.slice_center(order, layout))
    return limit, geo, RCF.forward_row_buffer(order, R, plane), RCF.Prefetcher(zeros(T, 1), :none)
end

@testset "A v: a row weighted as it is sliced equals the row sliced, then weighted ($T, order $o, N $N)" for T in (ComplexF32, ComplexF64),
        o in (0, 1, 3), N in (8, 9)
    rng = MersenneTwister(31 + o + N)
    order = RCF.interpolation_order(o)
    for layout in (RCF.FullVolume(N, N, N), RCF.HalfVolume(N, N, N)), hi in (false, true)
        plane = RCF.ImagePlane(N, N, hi)
        limit, geo, row, pf = row_setup(rng, T, order, layout, plane)
        vol = RCF.VolumeView(randn(rng, T, RCF.stored_length(layout)), layout)
        for r in 0:plane.h-1
            ky = RCF.row_frequency(plane, r)
            weights = randn(rng, plane.width)
            sliced = fill(T(7), plane.width)
            RCF.slice_row!(sliced, 0, vol, geo, plane, order, ky, limit, row, pf)
            weigh_row!(sliced, 0, sliced, 0, weights, RCF.kept_range(plane, ky, limit))
            fused = fill(T(7), plane.width)
            RCF.slice_row!(fused, 0, vol, geo, plane, order, ky, limit, row, pf, weights)
            @test isequal(fused, sliced)
        end
        @test_throws DimensionMismatch RCF.slice_row!(zeros(T, plane.width), 0, vol, geo, plane, order, 0, limit,
                                                      row, pf, zeros(plane.width - 1))
    end
end

@testset "row sources: one location per pixel gives the two-pass sums bit for bit ($T, order $o, half image $hi)" for T in (ComplexF32, ComplexF64),
        o in (0, 1, 3), hi in (false, true)
    rng = MersenneTwister(17 + o + 2hi)
    N = 9
    order = RCF.interpolation_order(o)
    layout = RCF.FullVolume(N, N, N)
    plane = RCF.ImagePlane(N, N, hi)
    limit, geo, row, pf = row_setup(rng, T, order, layout, plane)
    vol = RCF.VolumeView(randn(rng, T, N^3), layout)
    values = randn(rng, T, RCF.npixels(plane))
    partners = hi && RCF.scatters_partners(order)
    for r in 0:plane.h-1
        ky = RCF.row_frequency(plane, r)
        columns = RCF.kept_range(plane, ky, limit)
        multipliers = randn(rng, plane.width)
        p = r * plane.width
        # the adjoint: scaled into a buffer, then scattered; or scaled as scattered
        buffer = zeros(T, plane.width)
        weigh_row!(buffer, 0, values, p, multipliers, columns)
        two_pass = zeros(T, N^3)
        RCF.backproject_row!(RCF.Scatter(RCF.VolumeView(two_pass, layout)), buffer, 0, geo, plane, order, ky, limit,
                             partners, row, pf)
        one_pass = zeros(T, N^3)
        RCF.backproject_row!(RCF.Scatter(RCF.VolumeView(one_pass, layout)), RCF.ScaledRow{T}(values, p, multipliers), p,
                             geo, plane, order, ky, limit, partners, row, pf)
        @test one_pass == two_pass
        hi && continue
        # AᵀAv: sliced into a buffer, weighted, scattered; or sampled where scattered
        sliced = zeros(T, plane.width)
        RCF.slice_row!(sliced, 0, vol, geo, plane, order, ky, limit, row, pf)
        weigh_row!(sliced, 0, sliced, 0, multipliers, columns)
        two_pass = zeros(T, N^3)
        RCF.backproject_row!(RCF.Scatter(RCF.VolumeView(two_pass, layout)), sliced, 0, geo, plane, order, ky, limit,
                             false, row, pf)
        one_pass = zeros(T, N^3)
        RCF.backproject_row!(RCF.Scatter(RCF.VolumeView(one_pass, layout)), RCF.SampledRow{T}(vol, multipliers), 0,
                             geo, plane, order, ky, limit, false, row, pf)
        @test one_pass == two_pass
    end
end

@testset "mirrored CTF rows equal the CTF evaluated there (N $N)" for N in (8, 9, 64)
    @test RCF.mirror_offset([-2.0, -1.0, 0.0, 1.0]) == 4
    @test RCF.mirror_offset([-1.0, 0.0, 1.0]) == 2
    @test RCF.mirror_offset([0.0, 1.0, 2.0, -1.0]) == -1   # FFT order
    @test RCF.mirror_offset([0.0, 1.0, 2.0]) == -1         # a half plane
    @test RCF.mirror_offset([-1.0, 0.0, 1.5]) == -1        # not exactly opposite
    P = forward_test_params(MersenneTwister(5 + N), 3)
    P[3, 3] = 0   # a round CTF, zero phase shift: the kx·ky term is ±0 on the mirrored rows
    P[2, 3] = P[1, 3]
    full = RCF.ctf_source(RCF.CTF_SPA, P, RCF.ImagePlane(N, N, false), 1.7, 0.0, 0.0)
    # every row but ky = 0 (and −N/2 for even N) is the mirror of an earlier row, of exactly
    # the opposite frequency; no other row has an earlier mirror
    mirrors = [RCF.mirror_row(full, r) for r in 0:N-1]
    @test count(>=(0), mirrors) == (iseven(N) ? N ÷ 2 - 1 : N ÷ 2)
    @test all(m < r && full.row_freq[m + 1] == -full.row_freq[r + 1] for (r, m) in zip(0:N-1, mirrors) if m >= 0)
    @test all(full.row_freq[r + 1] == 0 || !any(==(-full.row_freq[r + 1]), full.row_freq[1:r])
              for (r, m) in zip(0:N-1, mirrors) if m < 0)
    @test count(r -> RCF.mirrored_later(full, r), 0:N-1) == count(>=(0), mirrors)
    @test full.column_mirror == (iseven(N) ? N : N - 1)
    half = RCF.ctf_source(RCF.CTF_SPA, P, RCF.ImagePlane(N, N, true), 1.7, 0.0, 0.0)
    @test half.column_mirror == -1 && all(r -> RCF.mirror_row(half, r) == -1, 0:N-1)
    @test isempty(RCF.CTFRow(half, RCF.ImagePlane(N, N, true)).cached)
    plane = RCF.ImagePlane(N, N, false)
    row = RCF.CTFRow(full, plane)
    reference = zeros(N)
    # rows in order and out of order, images in turn, clipped and unclipped (kx = −N/2 kept:
    # a column without a mirror)
    for (i, limit) in ((1, (N ÷ 2 - 1)^2), (2, typemax(Int)), (1, typemax(Int)), (3, (N ÷ 2)^2)),
            rows in (0:N-1, N-1:-1:0)
        ic = RCF.image_ctf(full, i)
        for r in rows
            columns = RCF.kept_range(plane, RCF.row_frequency(plane, r), limit)
            values = RCF.ctf_row!(row, full, ic, r, columns)
            for j in columns   # point by point: no reuse
                RCF.ctf_points!(reference, ic.constants, full.column_freq, full.row_freq[r + 1], ic.fast, (j + 1):(j + 1))
            end
            @test values[columns .+ 1] == reference[columns .+ 1]
        end
    end
    # the mirrored rows are copies: a marked cache entry shows up in the mirror row
    ic = RCF.image_ctf(full, 1)
    r = N - 2
    m = RCF.mirror_row(full, r)
    RCF.ctf_row!(row, full, ic, m, 0:N-1)
    row.cache[full.column_mirror - 2 + 1, m + 1] = 12345.0
    @test RCF.ctf_row!(row, full, ic, r, 0:N-1)[3] == 12345.0
end

@testset "ctf_columns widens the formula sources' kept columns to a multiple of 8 within the row" begin
    plane = RCF.ImagePlane(64, 64, false)
    P = forward_test_params(MersenneTwister(3), 1)
    source = RCF.ctf_source(RCF.CTF_SPA, P, plane, 1.5, 0.0, 0.0)
    ic = RCF.image_ctf(source, 1)
    @test ic.fast
    for width in (64, 33, 5), lo in 0:width-1, hi in lo-1:width-1
        columns = lo:hi
        wide = RCF.ctf_columns(source, ic, columns, width)
        if isempty(columns)
            @test wide == columns
            continue
        end
        @test first(wide) <= lo && hi <= last(wide) && 0 <= first(wide) && last(wide) <= width - 1
        @test length(wide) == min(width, 8 * cld(length(columns), 8))
    end
    # other sources, and the scalar (not fast) formula path, keep the kept columns
    @test RCF.ctf_columns(RCF.NoCTF(), nothing, 3:40, 64) == 3:40
    @test RCF.ctf_columns(RCF.TabulatedCTF(zeros(64 * 64, 1), 64), 1, 3:40, 64) == 3:40
    @test RCF.ctf_columns(source, RCF.ImageCTF(ic.constants, false), 3:40, 64) == 3:40
    # the widened row holds the same CTF values at the kept columns
    row = RCF.CTFRow(source, plane)
    narrow = copy(RCF.ctf_row!(row, source, ic, 9, 3:40))
    wide = RCF.ctf_row!(RCF.CTFRow(source, plane), source, ic, 9, RCF.ctf_columns(source, ic, 3:40, 64))
    @test wide[4:41] == narrow[4:41]
end

@testset "forward kernels with SPA CTF: widened CTF rows, kept runs of every length ($name)" for (name, hi) in (("full", 0), ("half", 1))
    # the widened CTF rows leave A v, Aᵀ s and AᵀAv equal to the per-pixel products
    rng = MersenneTwister(64 + hi)
    N, n = 16, 2
    R = forward_test_rotations(rng, n, Float32)
    P = forward_test_params(rng, n)
    npix = hi == 1 ? N * half_width(N) : N * N
    ctf = zeros(npix, n)
    RCF.ctf_grid!(ctf, P, N, 1.5, hi, 0, 0, 0.0, 0.0)
    v = randn(rng, ComplexF64, N^3)
    bare = zeros(ComplexF64, npix, n)
    fwd_call(bare, v, R, RCF.CTF_NONE, NO_CTF_DATA, N; hi=hi)
    out = zeros(ComplexF64, npix, n)
    fwd_call(out, v, R, RCF.CTF_SPA, P, N; hi=hi, voxel=1.5)
    @test relerr(out, bare .* ctf) < 1e-13
    s = randn(rng, ComplexF64, npix, n)
    formula = zeros(ComplexF64, N^3)
    adj_call(formula, s, R, RCF.CTF_SPA, P, N; hi=hi, voxel=1.5)
    tabulated = zeros(ComplexF64, N^3)
    adj_call(tabulated, s, R, RCF.CTF_TABULATED, ctf, N; hi=hi)
    @test relerr(formula, tabulated) < 1e-13
end
