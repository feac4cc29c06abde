# Run with: julia --project=julia/RecovarCore julia/RecovarCore/test/runtests.jl
# (Pkg.test() needs the General registry, which is unreachable offline.)
# Every test_*.jl file in this folder is one concern's tests; they share helpers.jl.
using Test
using RecovarCore

include("helpers.jl")

@testset "RecovarCore" begin
    for file in sort(filter(f -> startswith(f, "test_") && endswith(f, ".jl"), readdir(@__DIR__)))
        @testset "$file" begin
            include(joinpath(@__DIR__, file))
        end
    end
end
