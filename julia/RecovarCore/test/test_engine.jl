# The forward model on the engine's rows: slicing is the forward model with CTF ≡ 1, the
# forward model and its backprojection are adjoint for every CTF mode, and the thread
# partitioner hands out every item exactly once.
const RCF = RecovarCore

"n random rotations as the kernels see a NumPy (n, 3, 3) stack: `R[b, a, i] = R_i[a, b]`."
function engine_test_rotations(rng, n)
    R = zeros(Float64, 3, 3, n)
    for (i, M) in enumerate(RCF.random_rotations(rng, n, Float64))
        R[:, :, i] = permutedims(M)
    end
    return R
end

"CTF parameters (11, n): SPA columns 1–9, then tilt number / dose (10) and tilt angle (11)."
function engine_test_params(rng, n)
    P = zeros(Float64, 11, n)
    for i in 1:n
        dfu = 5000 + 25000 * rand(rng)
        P[:, i] = [dfu, dfu - 600 * rand(rng), 180 * rand(rng), 300, 2.7, 0.1, 10 * rand(rng), 40 * rand(rng), 1,
                   rand(rng, 1:20), 60 * rand(rng) - 30]
    end
    return P
end

"Every CTF mode's source on `plane` for the parameters `P` (tabulated: random values)."
function engine_ctf_sources(rng, plane, P)
    n = size(P, 2)
    tabulated = randn(rng, RCF.npixels(plane), n)
    return [("none", RCF.ctf_source(RCF.CTF_NONE, zeros(0, 0), plane, 3.0, 0.0, 0.0)),
            ("tabulated", RCF.ctf_source(RCF.CTF_TABULATED, tabulated, plane, 3.0, 0.0, 0.0)),
            ("SPA", RCF.ctf_source(RCF.CTF_SPA, P, plane, 3.0, 0.0, 0.0)),
            ("SPA_ANTIALIASED", RCF.ctf_source(RCF.CTF_SPA_ANTIALIASED, P, plane, 3.0, 0.0, 0.0)),
            ("TILT_SERIES", RCF.ctf_source(RCF.CTF_TILT_SERIES, P, plane, 3.0, 2.5, 3.0)),
            ("CRYO_ET", RCF.ctf_source(RCF.CTF_CRYO_ET, P, plane, 3.0, 0.0, 0.0))]
end

@testset "forward model with a CTF of ones is slicing, bit for bit" begin
    rng = MersenneTwister(31)
    for N in (7, 8), half_image in (false, true), half_volume in (0, 1), order in (RCF.Nearest(), RCF.Linear(), RCF.Cubic())
        (half_volume == 1 && order isa RCF.Cubic) && continue   # cubic slices full coefficient volumes
        n = 5
        plane = RCF.ImagePlane(N, N, half_image)
        layout = RCF.volume_layout(half_volume, N, N, N)
        R = engine_test_rotations(rng, n)
        vol = RCF.VolumeView(randn(rng, ComplexF32, RCF.stored_length(layout)), layout)
        r2 = RCF.clip_radius2(order, Float64((N ÷ 2 - 1)^2))
        sliced = zeros(ComplexF32, RCF.npixels(plane) * n)
        RCF.slice_volumes!(sliced, [vol], R, plane, order, 1, r2)
        ones_ctf = RCF.ctf_source(RCF.CTF_TABULATED, ones(RCF.npixels(plane), n), plane, 3.0, 0.0, 0.0)
        for source in (RCF.NoCTF(), ones_ctf)
            projected = fill(ComplexF32(NaN), RCF.npixels(plane) * n)
            RCF.forward_project!(projected, vol, R, plane, order, 1, r2, source)
            @test reinterpret(UInt32, projected) == reinterpret(UInt32, sliced)
        end
    end
end

@testset "forward model is adjoint of its backprojection for every CTF mode, full and half images" begin
    rng = MersenneTwister(32)
    for N in (7, 8), half_image in (false, true), order in (RCF.Nearest(), RCF.Linear())
        n = 3
        plane = RCF.ImagePlane(N, N, half_image)
        layout = RCF.FullVolume(N, N, N)
        R = engine_test_rotations(rng, n)
        P = engine_test_params(rng, n)
        r2 = Float64((N ÷ 2 - 1)^2)
        for (mode, source) in engine_ctf_sources(rng, plane, P)
            forward(v) = (out = zeros(ComplexF64, RCF.npixels(plane) * n);
                          RCF.forward_project!(out, RCF.VolumeView(v, layout), R, plane, order, 1, r2, source); out)
            adjoint(s) = (out = zeros(ComplexF64, RCF.stored_length(layout));
                          RCF.backproject_ctf!(out, s, R, plane, order, layout, 1, r2, false, source, true); out)
            x = randn(rng, ComplexF64, RCF.stored_length(layout))
            y = randn(rng, ComplexF64, RCF.npixels(plane) * n)
            @test adjoint_mismatch(forward, adjoint, x, y) < 1e-13
        end
    end
end

@testset "backprojecting an empty stack leaves the volume alone" begin
    plane = RCF.ImagePlane(8, 8, false)
    layout = RCF.FullVolume(8, 8, 8)
    out = ones(ComplexF64, RCF.stored_length(layout))
    RCF.backproject_ctf!(out, ComplexF64[], zeros(3, 3, 0), plane, RCF.Linear(), layout, 1, 9.0, false, RCF.NoCTF(), true)
    @test all(==(1), out)
end

@testset "the thread partitioner covers 1:n exactly once" begin
    for n in (0, 1, Threads.nthreads(), 1000)
        counts = [Threads.Atomic{Int}(0) for _ in 1:n]
        RCF.foreach_image(i -> Threads.atomic_add!(counts[i], 1), n)
        @test all(c -> c[] == 1, counts)
        for nblocks in unique((1, 2, Threads.nthreads(), 7))
            counts = [Threads.Atomic{Int}(0) for _ in 1:n]
            blocks = Vector{UnitRange{Int}}(undef, nblocks)
            RCF.static_blocks(n, nblocks) do b, items
                blocks[b] = items
                foreach(i -> Threads.atomic_add!(counts[i], 1), items)
            end
            @test all(c -> c[] == 1, counts)
            # static: contiguous blocks in order, the same in every run
            @test blocks == [RCF.chunk_range(b, nblocks, n) for b in 1:nblocks]
        end
        counts = [Threads.Atomic{Int}(0) for _ in 1:n]
        RCF.on_demand_blocks(n) do blocks
            for images in blocks, i in images
                Threads.atomic_add!(counts[i], 1)
            end
        end
        @test all(c -> c[] == 1, counts)
    end
end

@testset "run_blocks runs every block once, on the caller when no other thread is free; errors propagate" begin
    for nblocks in (1, 2, 5)
        ran = zeros(Int, nblocks)
        RCF.run_blocks(b -> (ran[b] += 1), nblocks)
        @test ran == ones(Int, nblocks)
    end
    @test_throws Exception RCF.run_blocks(b -> b == 2 && error("block 2"), 3)
    if Threads.nthreads() == 2
        # hold the other thread in a loop that never yields; the caller must run block 2
        started = Threads.Atomic{Int}(0)
        release = Threads.Atomic{Bool}(false)
        busy = Threads.@spawn begin
            started[] = Threads.threadid()
            while !release[]
                GC.safepoint()   # lets the other thread collect garbage meanwhile
            end
        end
        while started[] == 0
            GC.safepoint()
        end
        timeout = Timer(_ -> (release[] = true), 20)   # a failure, not a hang
        ran = zeros(Int, 2)
        RCF.run_blocks(b -> (ran[b] = Threads.threadid()), 2)
        @test started[] != Threads.threadid() && ran == fill(Threads.threadid(), 2)
        release[] = true
        close(timeout)
        wait(busy)
    end
end

@testset "floor_sqrt is isqrt" begin
    for x in [0:5000; 2^40 .+ (-3:3); (2^31 - 1)^2 .+ (-2:2); (typemax(Int) >> 2) .- (0:3)]
        @test RCF.floor_sqrt(x) == isqrt(x)
    end
end

@testset "forward model is slicing times ctf_grid!'s CTF, bit for bit, for every CTF mode" begin
    rng = MersenneTwister(33)
    # kind => (antialias, dose mode) of ctf_grid!
    modes = [RCF.CTF_SPA => (0, 0), RCF.CTF_SPA_ANTIALIASED => (1, 0), RCF.CTF_TILT_SERIES => (0, 1),
             RCF.CTF_CRYO_ET => (0, 2)]
    for N in (7, 8), half_image in (false, true), n in (1, 4), order in (RCF.Linear(), RCF.Cubic())
        plane = RCF.ImagePlane(N, N, half_image)
        layout = RCF.FullVolume(N, N, N)
        R = engine_test_rotations(rng, n)
        P = engine_test_params(rng, n)
        vol = RCF.VolumeView(randn(rng, ComplexF64, N^3), layout)
        r2 = RCF.clip_radius2(order, Float64((N ÷ 2 - 1)^2))   # cubic: every pixel, the first row and column too
        bare = zeros(ComplexF64, RCF.npixels(plane) * n)
        RCF.forward_project!(bare, vol, R, plane, order, 1, r2, RCF.NoCTF())
        for (kind, (antialias, dose)) in modes
            ctf = zeros(RCF.npixels(plane), n)
            RCF.ctf_grid!(ctf, P, N, 3.5, half_image ? 1 : 0, antialias, dose, 2.0, 3.0)
            out = zeros(ComplexF64, RCF.npixels(plane) * n)
            source = RCF.ctf_source(kind, P, plane, 3.5, 2.0, 3.0)
            RCF.forward_project!(out, vol, R, plane, order, 1, r2, source)
            @test out == bare .* vec(ctf)
        end
    end
end
