# CPU nanoseconds per pixel of the forward model's kernels (forward.jl): A v (no CTF and SPA
# CTF), Aᵀ s and AᵀAv, linear interpolation, complex float32 full volume and full images,
# default clip radius (N/2 − 1), σ² per pixel. Process CPU time (not wall: the machine is
# shared), minimum over `reps` calls after a warm-up call. Run it with one thread:
#
#   JULIA_NUM_THREADS=1 julia --project=julia/RecovarCore bench/bench_engine.jl [N n reps] ...
#
# Default: N = 64 and 128, n = 500 images, 12 repetitions. Calls only the kernel entry points
# (`forward_model_kernel!`, `adjoint_forward_model_kernel!`, `compute_AtAv_kernel!`), so the
# same file times older trees (`--project=<tree>/julia/RecovarCore`). Not a test.
using RecovarCore, Random
using RecovarCore: forward_model_kernel!, adjoint_forward_model_kernel!, compute_AtAv_kernel!, random_rotations

const CTF_NONE = 0
const CTF_SPA = 2
const LINEAR = 1

cpu_seconds() = ccall(:clock, Clong, ()) / 1e6   # process CPU time, all threads

"Julia (3, 3, n) rotations (NumPy (n, 3, 3)), float32."
random_poses(rng, n) = reshape(reduce(hcat, [vec(permutedims(M)) for M in random_rotations(rng, n)]), 3, 3, n)

"Julia (9, n) SPA CTF parameters: defocus 1–2.5 µm, 300 kV, Cs 2.7 mm, W 0.1, B 40 Å²."
function ctf_parameters(rng, n)
    p = repeat(Float32[0, 0, 0, 300, 2.7, 0.1, 0, 40, 1], 1, n)
    p[1, :] .= 10000 .+ 15000 .* rand(rng, Float32, n)
    p[2, :] .= p[1, :] .- 300
    p[3, :] .= 360 .* rand(rng, Float32, n)
    return p
end

"Minimum process CPU seconds of `reps` calls of `f` after a warm-up call."
function min_cpu(f, reps)
    f()
    best = Inf
    for _ in 1:reps
        GC.gc(false)
        c0 = cpu_seconds()
        f()
        best = min(best, cpu_seconds() - c0)
    end
    return best
end

function bench(N::Int, n::Int, reps::Int)
    rng = MersenneTwister(1)
    npix = N * N
    vol = randn(rng, ComplexF32, N^3)
    rot = random_poses(rng, n)
    params = ctf_parameters(rng, n)
    slices = randn(rng, ComplexF32, npix, n)
    noise = 0.5f0 .+ rand(rng, Float32, npix)
    out = zeros(ComplexF32, npix, n)
    acc = zeros(ComplexF32, N^3)
    r2 = Float64((N ÷ 2 - 1)^2)
    voxel = 1.5
    forward(kind) = () -> forward_model_kernel!(out, vol, rot, kind, params, voxel, 0.0, 0.0, LINEAR, 0, 0, N, N, N,
                                                N, N, r2, 1)
    adjoint() = (fill!(acc, 0); adjoint_forward_model_kernel!(acc, slices, rot, CTF_SPA, params, voxel, 0.0, 0.0,
                                                              LINEAR, 0, 0, N, N, N, N, N, r2, 1, 0))
    normal() = (fill!(acc, 0); compute_AtAv_kernel!(acc, vol, rot, CTF_SPA, params, voxel, 0.0, 0.0, noise, 1, npix,
                                                    LINEAR, N, N, N, N, r2, 1))
    # the adjoint and AᵀAv zero the accumulator inside the timed call: subtract that
    zeroing = min_cpu(() -> fill!(acc, 0), reps)
    pixels = n * npix
    ns(t) = round(1e9 * t / pixels; digits=2)
    return [("forward, no CTF", ns(min_cpu(forward(CTF_NONE), reps))),
            ("forward, SPA CTF", ns(min_cpu(forward(CTF_SPA), reps))),
            ("adjoint", ns(min_cpu(adjoint, reps) - zeroing)),
            ("AᵀAv", ns(min_cpu(normal, reps) - zeroing))]
end

function main(args)
    cases = isempty(args) ? [(64, 500, 12), (128, 500, 12)] :
            [Tuple(parse.(Int, args[k:k+2])) for k in 1:3:length(args)]
    println("threads $(Threads.nthreads()); CPU ns per pixel (min over repetitions); load: ",
            strip(read(`uptime`, String)))
    for (N, n, reps) in cases
        for (name, t) in bench(N, n, reps)
            println("box $N, $n images | $name | $t")
        end
    end
end

main(ARGS)
