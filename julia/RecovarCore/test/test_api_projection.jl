# Exported projection API (src/api/projection.jl, src/api/forward_model.jl): one adjoint
# identity over every operator pair, results equal to the Python path's kernel calls, and
# argument errors.
using LinearAlgebra: dot, mul!
const RC = RecovarCore

"Every plan the API can build, small: order × volume layout × image layout × odd/even × precision."
function every_plan(rng)
    plans = Any[]
    for order in (Nearest(), Linear(), Cubic()), vl in (FullGrid(), HalfGrid()), il in (FullGrid(), HalfGrid()),
            n in (8, 7), T in (Float32, Float64)
        push!(plans, ProjectionPlan(order, (n, n, n), random_rotations(rng, 3, T); volume_layout=vl,
                                    image_layout=il, coordinate_type=T))
    end
    return plans
end

"Every operator pair: each plan alone and as a forward model with CTF and translations."
function every_operator(rng)
    ops = Any[]
    for P in every_plan(rng)
        push!(ops, P)
        params = [CTFParams(defocus_u=8000 + 3000 * rand(rng), defocus_v=7500, defocus_angle=40 * rand(rng),
                            bfactor=20) for _ in 1:npose(P)]
        push!(ops, ForwardModel(P; ctf=params, pixel_size=3.0, translations=2 .* randn(rng, 2, npose(P))))
    end
    return ops
end

plan_of(P::ProjectionPlan) = P
plan_of(A::ForwardModel) = A.plan

@testset "adjoint: real(dot(A*x, y)) ≈ real(dot(x, A'*y)) for every operator" begin
    rng = MersenneTwister(13)
    for A in every_operator(rng)
        P = plan_of(A)
        T = eltype(P.rotations)
        x = randn(rng, Complex{T}, volume_dims(P))
        y = randn(rng, Complex{T}, image_dims(P))
        Ax = A * x
        Aty = A' * y
        tol = T == Float32 ? 2e-5 : 1e-12
        @test abs(real(dot(Ax, y)) - real(dot(x, Aty))) <= tol * sqrt(sum(abs2, Ax) * sum(abs2, y))
        @test size(Ax) == image_dims(P)
        @test size(Aty) == volume_dims(P)
        @test mul!(similar(Ax), A, x) == Ax
        @test mul!(similar(Aty), A', y) == Aty
        @test A'' === A
    end
end

@testset "projection equals the kernel call the Python path makes (order $order, hv=$hv, hi=$hi)" for
        order in (Nearest(), Linear(), Cubic()), hv in (false, true), hi in (false, true)
    rng = MersenneTwister(3)
    n = 10
    rotations = random_rotations(rng, 5)
    P = ProjectionPlan(order, (n, n, n), rotations; volume_layout=hv ? HalfGrid() : FullGrid(),
                       image_layout=hi ? HalfGrid() : FullGrid())
    v = randn(rng, ComplexF32, volume_dims(P))
    # NumPy's (n, 3, 3) stack as Julia sees it
    numpy_rot = zeros(Float32, 3, 3, 5)
    for i in 1:5
        numpy_rot[:, :, i] = permutedims(rotations[i])
    end
    code = RC.order_code(order)
    source = v
    if order isa Cubic     # Python: slice_volume(precompute_cubic_coefficients(v))
        source = hv ? reshape(RC.expand_half_volume(vec(v), RC.HalfVolume(n, n, n)), n, n, n) : copy(v)
        RC.spline_coefficients!(source)
    end
    expected = zeros(ComplexF32, image_dims(P))
    r2 = order isa Cubic ? -1.0 : Float64((n ÷ 2 - 1)^2)
    RC.slice_volume_kernel!(expected, reshape(source, :, 1), numpy_rot, code, order isa Cubic ? 0 : Int(hv),
                            Int(hi), n, n, n, n, n, r2, 1)
    @test P * v == expected
    if !hi   # full images: the adjoint is the Python adjoint_slice_volume exactly
        y = randn(rng, ComplexF32, image_dims(P))
        back = zeros(ComplexF32, prod(volume_dims(P)), 1)
        RC.adjoint_slice_volume_kernel!(back, y, numpy_rot, code, Int(hv), 0, n, n, n, n, n, r2, 1)
        @test vec(P' * y) == vec(back)
    end
end

@testset "forward model equals the forward kernel; normal equals A'(Av/σ²)" begin
    rng = MersenneTwister(5)
    n = 12
    rotations = random_rotations(rng, 6)
    params = [CTFParams(defocus_u=10000 + 500i, defocus_v=9800, defocus_angle=10i, bfactor=30) for i in 1:6]
    for order in (Nearest(), Linear(), Cubic())
        P = ProjectionPlan(order, (n, n, n), rotations)
        A = ForwardModel(P; ctf=params, pixel_size=2.5)
        v = randn(rng, ComplexF32, n, n, n)
        numpy_rot = cat((permutedims(R) for R in rotations)...; dims=3)
        source = order isa Cubic ? (c = copy(v); RC.spline_coefficients!(c); c) : v
        expected = zeros(ComplexF32, n, n, 6)
        RC.forward_model_kernel!(expected, source, numpy_rot, RC.CTF_SPA, RC.parameter_matrix(params, SPA()), 2.5,
                                 0.0, 0.0, RC.order_code(order), 0, 0, n, n, n, n, n,
                                 order isa Cubic ? -1.0 : Float64((n ÷ 2 - 1)^2), 1)
        @test A * v == expected
        σ2 = 0.5 .+ rand(rng, 6)
        direct = A' * ((A * v) ./ reshape(σ2, 1, 1, 6))
        @test isapprox(normal(A, v, σ2), direct; rtol=1e-5)
        @test isapprox(normal(A, v, 2.0), (A' * (A * v)) ./ 2; rtol=1e-5)
        # translations are unitary: they leave AᵀA unchanged
        At = ForwardModel(P; ctf=params, pixel_size=2.5, translations=randn(rng, 2, 6))
        @test isapprox(normal(At, v), At' * (At * v); rtol=1e-4)
    end
end

@testset "CTF modes of the forward model match ctf(params, grid)" begin
    rng = MersenneTwister(8)
    n = 10
    params = [CTFParams(defocus_u=12000, defocus_v=11000, defocus_angle=25, dose=5i, tilt_number=i,
                        tilt_angle=3i) for i in 1:3]
    P = ProjectionPlan(Nearest(), (n, n, n), random_rotations(rng, 3); max_r=nothing)
    v = randn(rng, ComplexF64, n, n, n)
    for mode in (SPA(), SPAAntialiased(), TiltSeries(2.0, 3.0), CryoET())
        A = ForwardModel(P; ctf=params, pixel_size=2.0, mode=mode)
        c = ctf(params, ImageGrid(n, 2.0); mode=mode, eltype=Float64)
        @test isapprox(A * v, c .* (P * v); rtol=1e-6)
    end
    @test_throws ArgumentError ForwardModel(P; ctf=params, mode=SPAAntialiased(true))
end

@testset "API argument errors name the argument" begin
    rng = MersenneTwister(2)
    P = ProjectionPlan(Linear(), (8, 8, 8), random_rotations(rng, 2))
    @test_throws DimensionMismatch P * zeros(ComplexF32, 8, 8, 7)
    @test_throws DimensionMismatch P' * zeros(ComplexF32, 8, 8, 3)
    @test_throws ArgumentError mul!(zeros(ComplexF64, 8, 8, 2), P, zeros(ComplexF32, 8, 8, 8))
    @test_throws ArgumentError ProjectionPlan(Linear(), (8, 0, 8), random_rotations(rng, 2))
    @test_throws ArgumentError ProjectionPlan(Linear(), (8, 8, 8), [fill(NaN, 3, 3)])
    @test_throws ArgumentError ProjectionPlan(Linear(), (8, 8, 8), random_rotations(rng, 2); max_r=NaN)
    @test_throws DimensionMismatch ForwardModel(P; ctf=[CTFParams(defocus_u=1e4)])
    @test_throws DimensionMismatch ForwardModel(P; translations=zeros(2, 3))
    @test_throws ArgumentError ForwardModel(P; pixel_size=0)
    @test_throws DimensionMismatch normal(ForwardModel(P), zeros(ComplexF32, 8, 8, 8), ones(3))
    @test_throws ArgumentError normal(ForwardModel(P), zeros(ComplexF32, 8, 8, 8), -1.0)
    # a batch of one and an empty batch
    P1 = ProjectionPlan(Linear(), (8, 8, 8), random_rotations(rng, 1))
    @test size(P1 * randn(rng, ComplexF32, 8, 8, 8)) == (8, 8, 1)
    P0 = ProjectionPlan(Linear(), (8, 8, 8), Matrix{Float32}[])
    @test size(P0 * randn(rng, ComplexF32, 8, 8, 8)) == (8, 8, 0)
    @test P0' * zeros(ComplexF32, 8, 8, 0) == zeros(ComplexF32, 8, 8, 8)
end
