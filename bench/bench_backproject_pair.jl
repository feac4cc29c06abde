# Kernel pixel rates of the reconstruction's backprojection on P³ half volumes (linear, half
# images): two separate passes (Pᵀ(c·y), then Pᵀ w) against the fused pass, on one thread and
# with slab threads. Wall and process CPU seconds (min of 3), and half-grid pixels per second.
#
#   JULIA_NUM_THREADS=2 julia --project=julia/RecovarCore bench/bench_backproject_pair.jl [P n] ...
#
# Default: P = 256 with 64 images, P = 512 with 32 (box 128 and 256 at pad 2). Not a test.
using RecovarCore, Random, LinearAlgebra
using RecovarCore: backproject!, backproject_slabs!, Scatter, FusedPixels, VolumeView, HalfVolume, ImagePlane,
                   Linear, stored_length, CTFPixels, CTFCorrection, ctf_source, ctf_grid!

function random_poses(rng, n)
    out = zeros(Float32, 3, 3, n)
    for i in 1:n
        Q = Matrix(qr(randn(rng, 3, 3)).Q)
        out[:, :, i] = permutedims(Q .* sign(det(Q)))
    end
    return out
end

cpu_seconds() = ccall(:clock, Clong, ()) / 1e6   # process CPU time, all threads

function measure(f)
    f()
    runs = map(1:3) do _
        c0 = cpu_seconds()
        wall = @elapsed f()
        (wall, cpu_seconds() - c0)
    end
    return minimum(first.(runs)), minimum(last.(runs))
end

function bench(p, n)
    rng = MersenneTwister(1)
    layout, plane = HalfVolume(p, p, p), ImagePlane(p, p, true)
    npix, len = p * (p ÷ 2 + 1), stored_length(layout)
    y, c = randn(rng, ComplexF32, npix * n), randn(rng, Float32, npix * n)
    w, cy = c .^ 2, c .* y
    poses, r2 = random_poses(rng, n), Float64((p ÷ 2 - 1)^2)
    data, weights = zeros(ComplexF32, len, 1), zeros(Float32, len, 1)
    one_volume(v) = Scatter(VolumeView(view(v, :, 1), layout))
    pair = Scatter(VolumeView(view(data, :, 1), layout), VolumeView(view(weights, :, 1), layout), nothing)
    # the in-kernel CTF (ctf_pixels.jl) against arrays of the same CTF: 300 kV, 1–2.5 µm defocus, 1 Å pixels
    params = Float32[x for i in 1:n for x in (1e4 + 1.5e4 * rand(rng), 1e4 + 1.5e4 * rand(rng), 180 * rand(rng), 300,
                                             2.7, 0.1, 0, 0, 1)]
    params = reshape(params, 9, n)
    ctf = zeros(Float32, npix, n)
    ctf_grid!(ctf, params, p, 1.0, 1, 0, 0, 0.0, 0.0)
    src = FusedPixels(y, vec(ctf), vec(ctf .^ 2))
    in_kernel = CTFPixels(y, ctf_source(2, params, plane, 1.0, 0, 0), CTFCorrection(0, 1, 1), fill(Inf, n), plane, 1.0)
    cases = ["two passes, 1 thread" => () -> (backproject!(one_volume(data), cy, 1, poses, plane, Linear(), 1, r2, true);
                                              backproject!(one_volume(weights), w, 1, poses, plane, Linear(), 1, r2, true)),
             "fused, 1 thread" => () -> backproject!(pair, src, 1, poses, plane, Linear(), 1, r2, true),
             "fused, in-kernel CTF, 1 thread" => () -> backproject!(pair, in_kernel, 1, poses, plane, Linear(), 1, r2, true),
             "fused, $(Threads.nthreads()) slab threads" =>
                 () -> backproject_slabs!(pair, src, 1, poses, plane, Linear(), 1, r2, true, Threads.nthreads()),
             "fused, in-kernel CTF, $(Threads.nthreads()) slab threads" =>
                 () -> backproject_slabs!(pair, in_kernel, 1, poses, plane, Linear(), 1, r2, true, Threads.nthreads())]
    for (name, f) in cases
        wall, cpu = measure(f)
        println("P=$p n=$n $name: wall $(round(wall, digits=3)) s ($(round(n * npix / wall / 1e6, digits=2)) Mpix/s), ",
                "cpu $(round(cpu, digits=3)) s ($(round(n * npix / cpu / 1e6, digits=2)) Mpix per cpu-second)")
    end
end

println("load average: ", strip(read("/proc/loadavg", String)))
sizes = isempty(ARGS) ? [(256, 64), (512, 32)] : [(parse(Int, ARGS[i]), parse(Int, ARGS[i + 1])) for i in 1:2:length(ARGS)]
foreach(s -> bench(s...), sizes)
println("load average: ", strip(read("/proc/loadavg", String)))
