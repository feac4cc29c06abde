# Slicing and backprojection (src/engine/, src/interp/, src/cabi/slicing.jl): adjoint
# identities for every order and layout, half layouts against their index-map definitions,
# primitives, geometry, threading.
using RecovarCore: FullVolume, HalfVolume, VolumeView, ImagePlane, SliceGeometry, slice_geometry, grid_point,
                   sample_nearest, sample_linear, sample_cubic, scatter_nearest!, scatter_linear!, scatter_cubic!,
                   locate, evaluate, scatter_at!, Nearest, Linear, Cubic, read_voxel, add_voxel!,
                   slice_volume_kernel!, adjoint_slice_volume_kernel!, spline_coefficients!, stored_length,
                   column_frequency, row_frequency, partner_frequency, has_conjugate_partner
using LinearAlgebra: dot, norm, I

function random_rotation(rng)
    q = randn(rng, 4)
    q ./= norm(q)
    a, b, c, d = q
    return [a^2+b^2-c^2-d^2 2(b*c-a*d) 2(b*d+a*c)
            2(b*c+a*d) a^2-b^2+c^2-d^2 2(c*d-a*b)
            2(b*d-a*c) 2(c*d+a*b) a^2-b^2-c^2+d^2]
end

"Julia (3, 3, n) array of NumPy-style rotations R_i (rotations[b, a, i] = R_i[a, b])."
function julia_rotations(Rs)
    out = zeros(eltype(Rs[1]), 3, 3, length(Rs))
    for (i, R) in enumerate(Rs)
        out[:, :, i] = permutedims(R)
    end
    return out
end

packed_columns(n) = vcat(collect(n÷2:n-1), iseven(n) ? [0] : Int[])
partner_index(i, m) = mod(m - m % 2 - i, m)

"half_volume_to_full_volume by its index map (docs/conventions.md §2), NumPy-C-order flat vectors."
function expand_half(h::AbstractVector, n)
    nh = n ÷ 2 + 1
    H = permutedims(reshape(h, nh, n, n), (3, 2, 1))      # H[i0+1, i1+1, j+1]
    F = zeros(eltype(h), n, n, n)
    for (j, c) in enumerate(packed_columns(n))
        F[:, :, c+1] = H[:, :, j]
    end
    for c in (iseven(n) ? (1:n÷2-1) : (0:n÷2-1)), i0 in 0:n-1, i1 in 0:n-1
        F[i0+1, i1+1, c+1] = conj(H[partner_index(i0, n)+1, partner_index(i1, n)+1, n÷2-c+1])
    end
    return vec(permutedims(F, (3, 2, 1)))
end

"Adjoint of half_image_to_full_image (real inner product) for (npix, n) full images."
function fold_images(y::AbstractMatrix, n)
    nh = n ÷ 2 + 1
    out = zeros(ComplexF64, n * nh, size(y, 2))
    for img in 1:size(y, 2)
        Y = permutedims(reshape(y[:, img], n, n))         # Y[r+1, c+1]
        Hh = zeros(ComplexF64, n, nh)
        for (j, c) in enumerate(packed_columns(n))
            Hh[:, j] .+= Y[:, c+1]
        end
        for c in (iseven(n) ? (1:n÷2-1) : (0:n÷2-1)), r in 0:n-1
            Hh[partner_index(r, n)+1, n÷2-c+1] += conj(Y[r+1, c+1])
        end
        out[:, img] = vec(permutedims(Hh))
    end
    return out
end

function project(v, rot, n, order; half_volume=false, half_image=false, max_r2=-1.0, u=1, h=n)
    width = half_image ? h ÷ 2 + 1 : h
    Tc = promote_type(Float32, eltype(rot))
    out = zeros(order == 0 ? eltype(v) : promote_type(eltype(v), Tc), h * width, size(rot, 3))
    slice_volume_kernel!(out, reshape(v, :, 1), rot, order, half_volume, half_image, n, n, n, h, h, max_r2, u)
    return out
end

function backproject(y, rot, n, order; half_volume=false, half_image=false, max_r2=-1.0, u=1, h=n)
    out = zeros(ComplexF64, half_volume ? n * n * (n ÷ 2 + 1) : n^3, 1)
    adjoint_slice_volume_kernel!(out, y, rot, order, half_volume, half_image, n, n, n, h, h, max_r2, u)
    return vec(out)
end

"|Re⟨A x, y⟩ − Re⟨x, Aᵀ y⟩| / (‖A x‖‖y‖): the adjoint identity for real-linear maps."
function real_adjoint_mismatch(forward, adjoint, x, y)
    Ax = forward(x)
    Aty = adjoint(y)
    return abs(real(dot(Ax, y)) - real(dot(x, Aty))) / (norm(Ax) * norm(y))
end

@testset "nearest/linear backprojection is the adjoint of slicing ($n, order $order, hv=$hv, hi=$hi, clip=$r2)" for n in (8, 7),
        order in (0, 1), hv in (false, true), hi in (false, true), r2 in (-1.0, 6.0)
    rng = MersenneTwister(100n + 10order + 4hv + 2hi)
    rot = julia_rotations([random_rotation(rng) for _ in 1:4])
    v = randn(rng, ComplexF64, hv ? n * n * (n ÷ 2 + 1) : n^3)
    y = randn(rng, ComplexF64, hi ? n * (n ÷ 2 + 1) : n * n, 4)
    # with half images, A is the full-image slice folded onto the half layout
    forward(x) = hi ? fold_images(project(x, rot, n, order; half_volume=hv, max_r2=r2), n) :
                      project(x, rot, n, order; half_volume=hv, max_r2=r2)
    adjoint(z) = backproject(z, rot, n, order; half_volume=hv, half_image=hi, max_r2=r2)
    @test real_adjoint_mismatch(forward, adjoint, v, y) < 1e-12
    if !hv && !hi
        @test adjoint_mismatch(forward, adjoint, v, y) < 1e-12
    end
end

@testset "cubic backprojection is the adjoint of slicing the spline coefficients ($n, hv=$hv, hi=$hi)" for n in (8, 7),
        hv in (false, true), hi in (false, true)
    rng = MersenneTwister(7n + 2hv + hi)
    rot = julia_rotations([random_rotation(rng) for _ in 1:3])
    v = randn(rng, ComplexF64, hv ? n * n * (n ÷ 2 + 1) : n^3)
    y = randn(rng, ComplexF64, hi ? n * (n ÷ 2 + 1) : n * n, 3)
    function forward(x)
        full = hv ? expand_half(x, n) : copy(x)
        spline_coefficients!(reshape(full, n, n, n))
        return project(full, rot, n, 3; half_image=hi)
    end
    adjoint(z) = backproject(z, rot, n, 3; half_volume=hv, half_image=hi)
    @test real_adjoint_mismatch(forward, adjoint, v, y) < 1e-12
end

@testset "half layouts equal the full computation ($n, order $order)" for n in (8, 7), order in (0, 1, 3)
    rng = MersenneTwister(n + order)
    rot = julia_rotations([random_rotation(rng) for _ in 1:3])
    h = randn(rng, ComplexF64, n * n * (n ÷ 2 + 1))
    full = expand_half(h, n)
    ref = project(full, rot, n, order)
    @test project(h, rot, n, order; half_volume=true) ≈ ref rtol = 1e-13
    cols = [r * n + c + 1 for r in 0:n-1 for c in packed_columns(n)]
    @test project(h, rot, n, order; half_volume=true, half_image=true) ≈ ref[cols, :] rtol = 1e-13
end

@testset "primitives: grid points are sampled exactly, scatter is the transpose of sample" begin
    rng = MersenneTwister(3)
    n = 6
    data = randn(rng, ComplexF64, n^3)
    v = VolumeView(data, FullVolume(n, n, n))
    at(i0, i1, i2) = data[1 + i2 + n * (i1 + n * i0)]
    @test sample_linear(v, 2.0, 3.0, 1.0) == at(2, 3, 1)
    @test sample_nearest(v, 2.4, 2.6, 0.5) == at(2, 3, 0)     # half to even: 0.5 -> 0
    @test sample_nearest(v, 2.5, 3.5, 1.5) == at(2, 4, 2)
    @test sample_nearest(v, -0.6, 1.0, 1.0) == 0
    @test sample_linear(v, 1.25, 2.0, 3.0) ≈ 0.75 * at(1, 2, 3) + 0.25 * at(2, 2, 3)
    @test sample_linear(v, 5.5, 1.0, 1.0) ≈ 0.5 * at(5, 1, 1)  # corner 6 is outside: reads 0
    # cubic at a grid point of coefficients C: C[i-1] + 4 C[i] + C[i+1] along each axis
    c = sample_cubic(v, 2.0, 2.0, 2.0)
    expected = sum(w0 * w1 * w2 * at(2 + a, 2 + b, 2 + d) for (a, w0) in ((-1, 1), (0, 4), (1, 1))
                   for (b, w1) in ((-1, 1), (0, 4), (1, 1)) for (d, w2) in ((-1, 1), (0, 4), (1, 1)))
    @test c ≈ expected
    @test sample_cubic(v, 0.0, 0.0, 0.0) ≈ sample_cubic(v, 6.0, -6.0, 12.0)   # periodic
    for (order, sample, scatter!) in ((Nearest(), sample_nearest, scatter_nearest!),
                                      (Linear(), sample_linear, scatter_linear!),
                                      (Cubic(), sample_cubic, scatter_cubic!))
        g = (4.7, 0.3, 2.2)
        acc = VolumeView(zeros(ComplexF64, n^3), FullVolume(n, n, n))
        value = 0.3 - 1.1im
        scatter!(acc, g..., value)
        @test dot(acc.data, data) ≈ conj(value) * sample(v, g...)
        @test evaluate(v, locate(order, v, g...)) == sample(v, g...)
    end
end

@testset "half-volume voxel access is the Hermitian expansion and its fold" begin
    rng = MersenneTwister(5)
    for n in (6, 5)
        h = randn(rng, ComplexF64, n * n * (n ÷ 2 + 1))
        full = expand_half(h, n)
        v = VolumeView(h, HalfVolume(n, n, n))
        @test [read_voxel(v, i0, i1, i2) for i2 in 0:n-1, i1 in 0:n-1, i0 in 0:n-1] == reshape(full, n, n, n)
        g = randn(rng, ComplexF64, n^3)
        acc = VolumeView(zeros(ComplexF64, length(h)), HalfVolume(n, n, n))
        k = 0
        for i0 in 0:n-1, i1 in 0:n-1, i2 in 0:n-1
            k += 1
            add_voxel!(acc, i0, i1, i2, g[k])
        end
        @test real(dot(acc.data, h)) ≈ real(dot(g, full))
    end
end

@testset "plane frequencies, partners and geometry" begin
    full = ImagePlane(8, 8, false)
    half = ImagePlane(8, 8, true)
    @test [column_frequency(full, j) for j in 0:7] == collect(-4:3)
    @test [column_frequency(half, j) for j in 0:4] == [0, 1, 2, 3, -4]
    @test [row_frequency(half, r) for r in 0:7] == collect(-4:3)
    @test [has_conjugate_partner(half, j) for j in 0:4] == [false, true, true, true, false]
    @test partner_frequency(half, 2, 3) == (-2, -3)
    @test partner_frequency(half, 2, -4) == (-2, -4)
    @test [column_frequency(ImagePlane(7, 7, true), j) for j in 0:3] == [0, 1, 2, 3]
    R = random_rotation(MersenneTwister(1))
    geo = slice_geometry(julia_rotations([R]), 1, 2, (8, 8, 8))
    @test collect(grid_point(geo, 3, -2)) ≈ vec([6 -4 0] * R) .+ 8
end

@testset "identity slice reads the plane kz = 0 (image[r, c] = V[c, r, N/2])" begin
    n = 8
    rng = MersenneTwister(9)
    v = randn(rng, ComplexF64, n^3)
    V = permutedims(reshape(v, n, n, n), (3, 2, 1))
    rot = julia_rotations([Matrix(1.0I, 3, 3)])
    for order in (0, 1)
        img = reshape(project(v, rot, n, order), n, n)       # img[c+1, r+1]
        @test img == V[:, :, n÷2+1]
    end
    # an upsampled volume is sampled at u·k
    big = randn(rng, ComplexF64, (2n)^3)
    B = permutedims(reshape(big, 2n, 2n, 2n), (3, 2, 1))
    img = reshape(project(big, rot, 2n, 1; u=2, h=n), n, n)
    @test img == B[1:2:2n, 1:2:2n, n+1]
end

@testset "threads and batches give the same result as one image at a time" begin
    n = 8
    rng = MersenneTwister(11)
    rots = [random_rotation(rng) for _ in 1:9]
    rot = julia_rotations(rots)
    v = randn(rng, ComplexF32, n^3)
    y = randn(rng, ComplexF32, n * n, 9)
    for order in (0, 1, 3)
        all_at_once = project(v, Float32.(rot), n, order)
        one_by_one = hcat([project(v, Float32.(rot[:, :, i:i]), n, order) for i in 1:9]...)
        @test all_at_once == one_by_one
        acc = zeros(ComplexF32, n^3, 1)
        adjoint_slice_volume_kernel!(acc, y, Float32.(rot), order, 0, 0, n, n, n, n, n, -1.0, 1)
        acc1 = zeros(ComplexF32, n^3, 1)
        for i in 1:9
            adjoint_slice_volume_kernel!(acc1, y[:, i:i], Float32.(rot[:, :, i:i]), order, 0, 0, n, n, n, n, n, -1.0, 1)
        end
        @test acc ≈ acc1 rtol = 1e-5
    end
end

@testset "kernel argument checks" begin
    n = 4
    out = zeros(ComplexF32, 16, 1)
    vol = zeros(ComplexF32, 64, 1)
    rot = zeros(Float32, 3, 3, 1)
    @test_throws ArgumentError slice_volume_kernel!(out, vol, zeros(Float32, 3, 2, 1), 1, 0, 0, n, n, n, n, n, -1.0, 1)
    bad = copy(rot)
    bad[1] = NaN32
    @test_throws ArgumentError slice_volume_kernel!(out, vol, bad, 1, 0, 0, n, n, n, n, n, -1.0, 1)
    @test_throws ArgumentError slice_volume_kernel!(out, vol, rot, 2, 0, 0, n, n, n, n, n, -1.0, 1)
    @test_throws DimensionMismatch slice_volume_kernel!(out, zeros(ComplexF32, 63, 1), rot, 1, 0, 0, n, n, n, n, n, -1.0, 1)
    @test_throws ArgumentError slice_volume_kernel!(zeros(ComplexF64, 16, 1), vol, rot, 1, 0, 0, n, n, n, n, n, -1.0, 1)
    @test_throws DimensionMismatch VolumeView(zeros(10), FullVolume(2, 2, 2))
end

@testset "prefetching changes nothing but speed" begin
    n = 8
    rng = MersenneTwister(12)
    rot = Float32.(julia_rotations([random_rotation(rng) for _ in 1:4]))
    v = randn(rng, ComplexF32, n * n * (n ÷ 2 + 1))
    y = randn(rng, ComplexF32, n * n, 4)
    @test RecovarCore.prefetch_kind() in (:prefetch, :none)
    results = Dict{String,Any}()
    previous = get(ENV, "RECOVAR_JL_PREFETCH", nothing)
    threshold = RecovarCore.PREFETCH_MIN_BYTES[]
    RecovarCore.PREFETCH_MIN_BYTES[] = 0   # prefetch this small volume too
    for setting in ("none", "")
        ENV["RECOVAR_JL_PREFETCH"] = setting
        results[setting] = [(project(v, rot, n, order; half_volume=true), backproject(y, rot, n, order; half_volume=true))
                            for order in (0, 1, 3)]
    end
    previous === nothing ? delete!(ENV, "RECOVAR_JL_PREFETCH") : (ENV["RECOVAR_JL_PREFETCH"] = previous)
    RecovarCore.PREFETCH_MIN_BYTES[] = threshold
    @test results["none"] == results[""]
    # volumes below the threshold are not prefetched, larger ones are (when this Julia can)
    @test RecovarCore.Prefetcher(v, :prefetch) isa RecovarCore.Prefetcher{:none}
    big = zeros(ComplexF32, cld(threshold, sizeof(ComplexF32)))
    @test RecovarCore.Prefetcher(big, :prefetch) isa RecovarCore.Prefetcher{:prefetch}
    @test RecovarCore.Prefetcher(big, :none) isa RecovarCore.Prefetcher{:none}
end

@testset "row runs (linear, full volume) equal the per-pixel primitives exactly (n=$n, half image=$hi, clip=$r2)" for n in (8, 9),
        hi in (false, true), r2 in (-1.0, 10.0)
    rng = MersenneTwister(20n + hi)
    Rs = [random_rotation(rng) for _ in 1:3]
    push!(Rs, Matrix(1.0I, 3, 3))                   # cells touching the grid edge
    rot = Float32.(julia_rotations(Rs))
    v = randn(rng, ComplexF32, n^3)
    vol = VolumeView(v, FullVolume(n, n, n))
    plane = ImagePlane(n, n, hi)
    y = randn(rng, ComplexF32, RecovarCore.npixels(plane), 4)
    got = project(v, rot, n, 1; half_image=hi, max_r2=r2)
    expected = similar(got)
    acc = VolumeView(zeros(ComplexF32, n^3), FullVolume(n, n, n))
    limit = r2 < 0 ? typemax(Int) : floor(Int, r2)
    for i in 1:4
        geo = slice_geometry(rot, i, 1, (n ÷ 2, n ÷ 2, n ÷ 2))
        p = 0
        for r in 0:n-1, j in 0:plane.width-1
            p += 1
            kx, ky = column_frequency(plane, j), row_frequency(plane, r)
            keep = kx^2 + ky^2 <= limit
            expected[p, i] = keep ? sample_linear(vol, grid_point(geo, kx, ky)...) : 0
            if keep
                scatter_linear!(acc, grid_point(geo, kx, ky)..., y[p, i])
                if has_conjugate_partner(plane, j)
                    scatter_linear!(acc, grid_point(geo, partner_frequency(plane, kx, ky)...)..., conj(y[p, i]))
                end
            end
        end
    end
    @test got == expected
    out = zeros(ComplexF32, n^3, 1)
    adjoint_slice_volume_kernel!(out, y, rot, 1, 0, hi, n, n, n, n, n, r2, 1)
    @test vec(out) ≈ acc.data rtol = 1e-6
    single = zeros(ComplexF32, n^3, 1)
    adjoint_slice_volume_kernel!(single, y[:, 1:1], rot[:, :, 1:1], 1, 0, hi, n, n, n, n, n, r2, 1)
    ref = VolumeView(zeros(ComplexF32, n^3), FullVolume(n, n, n))
    geo = slice_geometry(rot, 1, 1, (n ÷ 2, n ÷ 2, n ÷ 2))
    p = 0
    for r in 0:n-1, j in 0:plane.width-1
        p += 1
        kx, ky = column_frequency(plane, j), row_frequency(plane, r)
        kx^2 + ky^2 <= limit || continue
        scatter_linear!(ref, grid_point(geo, kx, ky)..., y[p, 1])
        has_conjugate_partner(plane, j) &&
            scatter_linear!(ref, grid_point(geo, partner_frequency(plane, kx, ky)...)..., conj(y[p, 1]))
    end
    @test vec(single) == ref.data    # one image: same operations in the same order
end

@testset "vectorised trilinear (complex float32, dense storage) equals the scalar one exactly ($name, n=$n)" for
        (name, make) in (("full", FullVolume), ("half", HalfVolume)), n in (9, 8)
    rng = MersenneTwister(31 + n)
    layout = make(n, n, n)
    flat = randn(rng, ComplexF32, stored_length(layout), 2)
    for data in (flat[:, 1], view(flat, :, 2))
        vol = VolumeView(data, layout)
        kinds = Dict(RecovarCore.DIRECT => 0, RecovarCore.CONJUGATED => 0)
        differ = 0
        for _ in 1:2000
            g = (rand(rng, Float32) * (n + 1) - 1, rand(rng, Float32) * (n + 1) - 1, rand(rng, Float32) * (n + 1) - 1)
            loc = RecovarCore.locate_linear(vol, g...)
            haskey(kinds, loc.kind) && (kinds[loc.kind] += 1)
            differ += RecovarCore.evaluate(vol, loc) !== RecovarCore.trilinear(vol, loc)
        end
        @test kinds[RecovarCore.DIRECT] > 300
        @test name == "full" || kinds[RecovarCore.CONJUGATED] > 100
        @test differ == 0
    end
end

@testset "a large output (faulted in up front) equals one image at a time" begin
    n = 32
    m = RecovarCore.TOUCH_BYTES ÷ (n * n * sizeof(ComplexF32)) + 3   # just above the threshold
    rng = MersenneTwister(32)
    rot = Float32.(julia_rotations([random_rotation(rng) for _ in 1:m]))
    v = randn(rng, ComplexF32, n^3)
    all_at_once = project(v, rot, n, 1)
    @test sizeof(all_at_once) >= RecovarCore.TOUCH_BYTES
    picks = (1, 2, m ÷ 2, m)
    @test all(all_at_once[:, i] == vec(project(v, rot[:, :, i:i], n, 1)) for i in picks)
    x = ones(ComplexF32, 10^6)
    RecovarCore.touch_pages!(x)
    @test count(iszero, x) >= length(x) ÷ (4096 ÷ sizeof(ComplexF32))
end

@testset "vectorised trilinear scatter (complex float32, dense storage) equals the scalar one exactly ($name, n=$n)" for
        (name, make) in (("full", FullVolume), ("half", HalfVolume)), n in (9, 8)
    rng = MersenneTwister(41 + n)
    layout = make(n, n, n)
    start = randn(rng, ComplexF32, stored_length(layout))
    flat = hcat(copy(start), copy(start))
    vector = VolumeView(view(flat, :, 1), layout)
    scalar = VolumeView(view(flat, :, 2), layout)
    direct = 0
    for _ in 1:2000
        g = (rand(rng, Float32) * (n + 1) - 1, rand(rng, Float32) * (n + 1) - 1, rand(rng, Float32) * (n + 1) - 1)
        loc = RecovarCore.locate_linear(vector, g...)
        direct += loc.kind == RecovarCore.DIRECT
        value = randn(rng, ComplexF32)
        scatter_at!(vector, loc, value)
        RecovarCore.scatter_cell!(scalar, loc, value)
    end
    @test direct > 300
    @test reinterpret(UInt32, vector.data) == reinterpret(UInt32, scalar.data)
    @test vector.data != start
end

@testset "advise_huge_pages! leaves contents alone; nyquist_columns" begin
    for m in (0, 1, 1000, 3 << 20)
        x = rand(MersenneTwister(m), ComplexF32, m)
        y = copy(x)
        @test RecovarCore.advise_huge_pages!(x) === x
        @test x == y
    end
    big = ones(ComplexF32, 3 << 20)
    RecovarCore.touch_pages!(big)
    @test count(iszero, big) >= length(big) ÷ (4096 ÷ sizeof(ComplexF32))
    @test RecovarCore.nyquist_columns(RecovarCore.ImagePlane(8, 8, true)) == 4:4
    @test isempty(RecovarCore.nyquist_columns(RecovarCore.ImagePlane(9, 9, true)))
    @test isempty(RecovarCore.nyquist_columns(RecovarCore.ImagePlane(8, 8, false)))
end
