# Two or more trees' RecovarCore in one Julia process, called in turn on the same inputs: a
# before/after comparison that sees the same machine load (the machine is shared). Each
# tree's src/ is copied to a temporary folder without its precompile statements and
# included as a module of its own. Not a test.
#
#   JULIA_NUM_THREADS=2 julia bench/bench_trees.jl OP N n rounds TREE...
#
# OP: `adjoint` (adjoint_forward_model_kernel!: linear, SPA CTF, complex float32 full volume,
# into a zeroed output) or `slice` (slice_volume_kernel!: linear, complex float32 full volume,
# into a fresh output offered huge pages as NumPy does for large arrays). N: box, n: images,
# rounds: timed calls per tree after a warm-up call. Prints, per tree, the median and the
# minimum wall and process CPU seconds (all threads) per call, and whether every tree's
# output equals the first tree's (`==`).
using Random

cpu_seconds() = ccall(:clock, Clong, ()) / 1e6

"The RecovarCore module of `tree` (a repository checkout), loaded from a copy without precompile statements."
function load_tree(tree::AbstractString, k::Int)
    src = mktempdir()
    cp(joinpath(tree, "julia", "RecovarCore", "src"), joinpath(src, "src"))
    write(joinpath(src, "src", "precompile.jl"), "")
    wrapper = Module(Symbol("Tree", k))
    Base.include(wrapper, joinpath(src, "src", "RecovarCore.jl"))
    core = getfield(wrapper, :RecovarCore)
    isdefined(core, :init_math_pointers) && Base.invokelatest(core.init_math_pointers)   # its __init__
    return core
end

"`madvise(MADV_HUGEPAGE)` on the whole 2 MiB pages of `a`, as NumPy does for its large arrays."
function advise_like_numpy(a::Array)
    lo = cld(UInt(pointer(a)), 1 << 21) * (1 << 21)
    hi = fld(UInt(pointer(a)) + UInt(sizeof(a)), 1 << 21) * (1 << 21)
    hi > lo && ccall(:madvise, Cint, (Ptr{Cvoid}, Csize_t, Cint), Ptr{Cvoid}(lo), hi - lo, 14)
    return a
end

function main(args, cores)
    op, N, n, rounds, trees = args[1], parse(Int, args[2]), parse(Int, args[3]), parse(Int, args[4]), args[5:end]
    rng = MersenneTwister(1)
    rot = reshape(reduce(hcat, [vec(permutedims(M)) for M in cores[1].random_rotations(rng, n)]), 3, 3, n)
    # SPA CTF (NumPy (n, 9)): defocus 0.5–3 µm, 300 kV, Cs 2.7 mm, W 0.1, B 0
    ctf = repeat(Float32[0, 0, 0, 300, 2.7, 0.1, 0, 0, 1], 1, n)
    ctf[1, :] .= 5000 .+ 25000 .* rand(rng, Float32, n)
    ctf[2, :] .= ctf[1, :] .- 300
    ctf[3, :] .= 180 .* rand(rng, Float32, n)
    slices = randn(rng, ComplexF32, N * N, n)
    volume = randn(rng, ComplexF32, N^3, 1)
    r2 = Float64((N ÷ 2 - 1)^2)
    function call(core)
        out = op == "adjoint" ? zeros(ComplexF32, N^3) : advise_like_numpy(Array{ComplexF32}(undef, N * N, n))
        t0, c0 = time(), cpu_seconds()
        if op == "adjoint"
            core.adjoint_forward_model_kernel!(out, slices, rot, 2, ctf, 1.3, 0.0, 0.0, 1, 0, 0, N, N, N, N, N, r2, 1, 0)
        else
            core.slice_volume_kernel!(out, volume, rot, 1, 0, 0, N, N, N, N, N, r2, 1)
        end
        return (time() - t0, cpu_seconds() - c0), out
    end
    outputs = [call(core)[2] for core in cores]
    same = all(o == outputs[1] for o in outputs)
    outputs = nothing
    times = [Tuple{Float64,Float64}[] for _ in cores]
    for r in 1:rounds, k in (isodd(r) ? eachindex(cores) : reverse(eachindex(cores)))
        GC.gc()
        push!(times[k], call(cores[k])[1])
    end
    med(x) = sort(x)[(end + 1) ÷ 2]
    println("$op, box $N, $n images, $(Threads.nthreads()) threads, $rounds rounds; outputs equal: $same")
    for (k, t) in enumerate(trees)
        w, c = first.(times[k]), last.(times[k])
        println("  $t: wall median $(round(med(w), digits=3)) s, min $(round(minimum(w), digits=3)) s; ",
                "CPU median $(round(med(c), digits=3)) s, min $(round(minimum(c), digits=3)) s")
    end
    println("  load average: ", read("/proc/loadavg", String))
end

length(ARGS) >= 5 || error("usage: julia bench_trees.jl adjoint|slice N n rounds TREE...")
ARGS[1] in ("adjoint", "slice") || error("OP must be adjoint or slice, got $(ARGS[1])")
const CORES = [load_tree(t, k) for (k, t) in enumerate(ARGS[5:end])]
main(ARGS, CORES)   # a top-level call: the trees' methods are visible to it
