# The fused pair backprojection with the CTF evaluated in the kernel (`backproject_pair_ctf!`,
# kernel "backproject_pair_ctf"): the same sums as "backproject_pair" on the multiplier arrays
# of every correction mode, sign, frequency limit and CTF kind, bit for bit (the row's CTF
# comes from the same evaluator as the grid's).
using RecovarCore: backproject_pair_kernel!, backproject_pair_ctf_kernel!, backproject_pair_ctf!, backproject_pair!, ctf_grid!,
                   grid_frequencies, ctf_source, CTFCorrection, ImagePlane, HalfVolume, Nearest, Linear,
                   stored_length

"Julia (3, 3, n) Float32 NumPy-style rotations (poses[b, a, i] = R_i[a, b])."
random_poses(rng, n) =
    reshape(Float32[R[b, a] for R in RecovarCore.random_rotations(rng, n, Float64) for b in 1:3 for a in 1:3], 3, 3, n)

"Julia (9, n) Float32 SPA parameters: defocus 0.8–2.5 µm, 300 kV, Cs 2.7 mm, W 0.1, B 0 or 40 Å²."
function random_ctf_params(rng, n)
    params = zeros(Float32, 9, n)
    for i in 1:n
        df = 8000 + 17000 * rand(rng)
        params[:, i] = [df, df * (1 + 0.05 * rand(rng)), 180 * rand(rng), 300, 2.7, 0.1, 0, 40 * (i % 2), 1]
    end
    return params
end

const VOXEL = 3.0

"The reference multipliers: RELION-sign c from ctf_grid!, each mode's table, the limits."
function reference_multipliers(params, c_values, p, mode, data_sign, limits)
    c = c_values === nothing ? begin
        out = zeros(Float32, p * (p ÷ 2 + 1), size(params, 2))
        ctf_grid!(out, params, p, VOXEL, 1, 0, 0, 0.0, 0.0)
        -out
    end : c_values
    table = Dict(0 => (c, c .^ 2), 1 => (one.(c), one.(c)), 2 => (sign.(c), one.(c)), 3 => (abs.(c), c .^ 2))
    d, w = table[mode]
    d = Float32(data_sign) .* d
    kx, ky = grid_frequencies(p, VOXEL, true)
    radius = Float64.(hypot.(Float32.(kx), Float32.(ky)))
    for i in 1:size(c, 2), k in 1:size(c, 1)
        if radius[k] > limits[i]
            d[k, i] = 0
            w[k, i] = 0
        end
    end
    return d, w
end

function pair_volumes(p)
    return zeros(ComplexF32, p * p * (p ÷ 2 + 1)), zeros(Float32, p * p * (p ÷ 2 + 1))
end

@testset "in-kernel CTF = multiplier arrays (P=$p, order $order, n=$n, mode $mode, sign $data_sign)" for p in (8, 7),
        order in (0, 1), n in (0, 1, 23), mode in 0:3, data_sign in (1.0, -1.0)
    rng = MersenneTwister(1000p + 100order + 10n + mode)
    y = randn(rng, ComplexF32, p * (p ÷ 2 + 1), n)
    rot = random_poses(rng, n)
    params = random_ctf_params(rng, n)
    limits = [isodd(i) ? Inf : 0.05 + 0.1 * rand(rng) for i in 1:n]
    kind = mode == 1 ? 0 : 2
    d, w = reference_multipliers(params, nothing, p, mode, data_sign, limits)
    data1, weights1 = pair_volumes(p)
    backproject_pair_kernel!(data1, weights1, y, d, w, rot, order, 1, 1, p, p, p, p, p, -1.0, 1)
    data2, weights2 = pair_volumes(p)
    backproject_pair_ctf_kernel!(data2, weights2, y, params, limits, rot, order, 1, 1, p, p, p, p, p, -1.0, 1,
                                 kind, VOXEL, mode, -1.0, data_sign)
    @test data2 == data1
    @test weights2 == weights1
    n == 0 && @test all(iszero, weights2)
    n > 0 && @test !all(iszero, weights2)
end

@testset "tabulated CTF values, clipping and both threadings (order $order, $threading)" for order in (0, 1),
        threading in (:copies, :slabs)
    rng = MersenneTwister(7 + order)
    p, n = 10, 9
    y = randn(rng, ComplexF32, p * (p ÷ 2 + 1), n)
    rot = random_poses(rng, n)
    c = randn(rng, Float32, p * (p ÷ 2 + 1), n)   # e.g. a CTF kept at 1 up to its first peak
    limits = fill(Inf, n)
    limits[2] = 0.1
    d, w = reference_multipliers(nothing, c, p, 0, 1.0, limits)
    plane = ImagePlane(p, p, true)
    interp = order == 0 ? Nearest() : Linear()
    data1, weights1 = pair_volumes(p)
    backproject_pair!(reshape(data1, :, 1), reshape(weights1, :, 1), vec(y), vec(d), vec(w), rot, plane, interp,
                      HalfVolume(p, p, p), 1, 9.0, true; threading=threading)
    data2, weights2 = pair_volumes(p)
    backproject_pair_ctf!(reshape(data2, :, 1), reshape(weights2, :, 1), vec(y), ctf_source(1, c, plane, VOXEL, 0, 0),
                          CTFCorrection(0, 1, 1), limits, VOXEL, rot, plane, interp, HalfVolume(p, p, p), 1, 9.0, true;
                          threading=threading)
    @test data2 == data1
    @test weights2 == weights1
end

@testset "in-kernel CTF: bad arguments" begin
    rng = MersenneTwister(3)
    p, n = 8, 2
    y = randn(rng, ComplexF32, p * (p ÷ 2 + 1), n)
    rot = random_poses(rng, n)
    params = random_ctf_params(rng, n)
    data, weights = pair_volumes(p)
    call(; ctf=params, limits=fill(Inf, n), rot=rot, kind=2, order=1, mode=0, sign=-1.0, voxel=VOXEL) =
        backproject_pair_ctf_kernel!(data, weights, y, ctf, limits, rot, order, 1, 1, p, p, p, p, p, -1.0, 1, kind,
                                     voxel, mode, sign, 1.0)
    @test_throws ArgumentError call(mode=4)
    @test_throws ArgumentError call(sign=0.5)
    @test_throws ArgumentError call(kind=3)
    @test_throws ArgumentError call(order=3)
    @test_throws ArgumentError call(voxel=0.0)
    @test_throws DimensionMismatch call(limits=[Inf])
    @test_throws DimensionMismatch call(ctf=params[:, 1:1])
    @test_throws DimensionMismatch call(rot=rot[:, :, 1:1])
    @test_throws DimensionMismatch call(ctf=randn(Float32, 5, n), kind=1)
    @test all(iszero, data) && all(iszero, weights)
end
