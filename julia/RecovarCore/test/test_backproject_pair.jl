# The fused data + weight backprojection (`backproject_pair!`, kernel "backproject_pair")
# and slab threading (`backproject_slabs!`): equal to the separate and single-thread
# backprojections bit for bit, and the data part is still the adjoint of slicing.
using RecovarCore: backproject_pair_kernel!, adjoint_slice_volume_kernel!, slice_volume_kernel!, backproject_pair!,
                   adjoint_slice_volumes!, backproject!, backproject_slabs!, Scatter, FusedPixels, VolumeView,
                   HalfVolume, FullVolume, ImagePlane, Nearest, Linear, interpolation_order, slab_planes,
                   stored_length, FLUSH_BLOCK
using LinearAlgebra: qr, det, dot, norm, Diagonal

"Julia (3, 3, n) Float32 array of random NumPy-style rotations (rotations[b, a, i] = R_i[a, b])."
function random_rotations(rng, n)
    out = zeros(Float32, 3, 3, n)
    for i in 1:n
        Q = Matrix(qr(randn(rng, 3, 3)).Q)
        det(Q) < 0 && (Q[:, 1] .*= -1)
        out[:, :, i] = permutedims(Q)
    end
    return out
end

"Random reconstruction-like inputs: half images of a P³ volume, CTF-like multipliers c and weights c²."
function pair_inputs(rng, p, n)
    nhalf = p * (p ÷ 2 + 1)
    y = randn(rng, ComplexF32, nhalf, n)
    c = randn(rng, Float32, nhalf, n)
    return y, c, c .^ 2, random_rotations(rng, n)
end

half_length(p) = p * p * (p ÷ 2 + 1)

function separate(y, c, w, rot, p, order, r2)
    data = zeros(ComplexF32, half_length(p), 1)
    weights = zeros(Float32, half_length(p), 1)
    adjoint_slice_volume_kernel!(data, c .* y, rot, order, 1, 1, p, p, p, p, p, r2, 1)
    adjoint_slice_volume_kernel!(weights, w, rot, order, 1, 1, p, p, p, p, p, r2, 1)
    return vec(data), vec(weights)
end

function fused(y, c, w, rot, p, order, r2)
    data = zeros(ComplexF32, half_length(p))
    weights = zeros(Float32, half_length(p))
    backproject_pair_kernel!(data, weights, y, c, w, rot, order, 1, 1, p, p, p, p, p, r2, 1)
    return data, weights
end

@testset "fused pass equals the two backprojections bit for bit (P=$p, order $order, n=$n, r2=$r2)" for p in (8, 7, 10),
        order in (0, 1), n in (0, 1, 37), r2 in (-1.0, 9.0)
    rng = MersenneTwister(1000p + 100order + n)
    y, c, w, rot = pair_inputs(rng, p, n)
    d1, w1 = separate(y, c, w, rot, p, order, r2)
    d2, w2 = fused(y, c, w, rot, p, order, r2)
    @test d2 == d1
    @test w2 == w1
    n == 0 && @test all(iszero, d2) && all(iszero, w2)
    n > 0 && @test !all(iszero, d2)
end

@testset "fused pass: bad arguments" begin
    rng = MersenneTwister(3)
    y, c, w, rot = pair_inputs(rng, 8, 2)
    data = zeros(ComplexF32, half_length(8))
    weights = zeros(Float32, half_length(8))
    @test_throws ArgumentError backproject_pair_kernel!(data, weights, y, c, w, rot, 3, 1, 1, 8, 8, 8, 8, 8, -1.0, 1)
    @test_throws ArgumentError backproject_pair_kernel!(weights, weights, y, c, w, rot, 1, 1, 1, 8, 8, 8, 8, 8, -1.0, 1)
    @test_throws DimensionMismatch backproject_pair_kernel!(data, weights, y, c[:, 1:1], w, rot, 1, 1, 1, 8, 8, 8, 8, 8,
                                                            -1.0, 1)
    @test_throws DimensionMismatch backproject_pair_kernel!(data[1:end-1], weights, y, c, w, rot, 1, 1, 1, 8, 8, 8, 8,
                                                            8, -1.0, 1)
end

@testset "data part of the fused pass is the adjoint of slicing (P=$p, order $order)" for p in (8, 7), order in (0, 1)
    # full images into a half volume (no conjugate partners): Re⟨P v, c·y⟩ = Re⟨v, Pᵀ(c·y)⟩
    rng = MersenneTwister(20p + order)
    n = 5
    rot = random_rotations(rng, n)
    y = randn(rng, ComplexF32, p * p, n)
    c = randn(rng, Float32, p * p, n)
    v = randn(rng, ComplexF32, half_length(p))
    data = zeros(ComplexF32, half_length(p), 1)
    weights = zeros(Float32, half_length(p), 1)
    backproject_pair!(data, weights, vec(y), vec(c), vec(c .^ 2), rot, ImagePlane(p, p, false),
                      interpolation_order(order), HalfVolume(p, p, p), 1, Inf, false)
    projected = zeros(ComplexF32, p * p, n)
    slice_volume_kernel!(projected, reshape(v, :, 1), rot, order, 1, 0, p, p, p, p, p, -1.0, 1)
    lhs = real(dot(ComplexF64.(projected), ComplexF64.(c .* y)))
    rhs = real(dot(ComplexF64.(v), ComplexF64.(vec(data))))
    @test abs(lhs - rhs) / (norm(projected) * norm(c .* y)) < 1e-5
end

"One thread, no slabs: the reference sums (`backproject!` with one accumulator)."
function single_thread(volumes, src, rot, plane, order, layout, r2, partners)
    s = length(volumes) == 1 ? Scatter(VolumeView(view(volumes[1], :, 1), layout)) :
        Scatter(VolumeView(view(volumes[1], :, 1), layout), VolumeView(view(volumes[2], :, 1), layout), nothing)
    backproject!([s], src, 1, rot, plane, order, 1, r2, partners)
    return volumes
end

@testset "slab threads equal one thread bit for bit (P=$p, $order, half volume $hv, half image $hi, n=$n)" for p in (12, 9),
        order in (Nearest(), Linear()), hv in (true, false), hi in (true, false), n in (1, 40)
    rng = MersenneTwister(7p + 3n + 2hv + hi)
    layout = hv ? HalfVolume(p, p, p) : FullVolume(p, p, p)
    plane = ImagePlane(p, p, hi)
    npix = p * plane.width
    rot = random_rotations(rng, n)
    y = randn(rng, ComplexF32, npix * n)
    c = randn(rng, Float32, npix * n)
    w = c .^ 2
    r2 = Float64((p ÷ 2 - 1)^2)
    partners = hi
    len = stored_length(layout)
    # one accumulator
    ref = single_thread((zeros(ComplexF32, len, 1),), y, rot, plane, order, layout, r2, partners)[1]
    out = zeros(ComplexF32, len, 1)
    adjoint_slice_volumes!(out, y, rot, plane, order, layout, 1, r2, partners; threading=:slabs)
    @test out == ref
    # the fused pair, with the threads' slabs and with more slabs than threads
    dref, wref = single_thread((zeros(ComplexF32, len, 1), zeros(Float32, len, 1)), FusedPixels(y, c, w), rot, plane,
                               order, layout, r2, partners)
    data, weights = zeros(ComplexF32, len, 1), zeros(Float32, len, 1)
    backproject_pair!(data, weights, y, c, w, rot, plane, order, layout, 1, r2, partners; threading=:slabs)
    @test data == dref
    @test weights == wref
    for nslabs in (3, 5)
        data, weights = zeros(ComplexF32, len, 1), zeros(Float32, len, 1)
        s = Scatter(VolumeView(view(data, :, 1), layout), VolumeView(view(weights, :, 1), layout), nothing)
        backproject_slabs!(s, FusedPixels(y, c, w), 1, rot, plane, order, 1, r2, partners, nslabs)
        @test data == dref
        @test weights == wref
    end
end

@testset "slab threads with blocked summation (more than FLUSH_BLOCK images)" begin
    rng = MersenneTwister(11)
    p = 6
    n = FLUSH_BLOCK + 30
    layout = HalfVolume(p, p, p)
    plane = ImagePlane(p, p, true)
    y, c, w, rot = pair_inputs(rng, p, n)
    len = stored_length(layout)
    dref, wref = single_thread((zeros(ComplexF32, len, 1), zeros(Float32, len, 1)),
                               FusedPixels(vec(y), vec(c), vec(w)), rot, plane, Linear(), layout, Inf, true)
    data, weights = zeros(ComplexF32, len, 1), zeros(Float32, len, 1)
    backproject_pair!(data, weights, vec(y), vec(c), vec(w), rot, plane, Linear(), layout, 1, Inf, true;
                      threading=:slabs)
    @test data == dref
    @test weights == wref
end

@testset "slab planes cover axis 0 in order (n0=$n0, $nslabs slabs)" for n0 in (4, 9, 64), nslabs in (1, 2, 4)
    planes = slab_planes(FullVolume(n0, n0, n0), nslabs, n0 / 2)
    @test length(planes) == nslabs
    @test first(planes[1]) == 0 && last(planes[end]) == n0 - 1
    @test all(!isempty, planes)
    @test all(first(planes[t + 1]) == last(planes[t]) + 1 for t in 1:nslabs-1)
end

@testset "threading mode: bad value" begin
    out = zeros(ComplexF32, 8^3, 1)
    @test_throws ArgumentError adjoint_slice_volumes!(out, zeros(ComplexF32, 64), random_rotations(MersenneTwister(1), 1),
                                                      ImagePlane(8, 8, false), Linear(), FullVolume(8, 8, 8), 1, Inf,
                                                      false; threading=:atomic)
end
