# Run with: julia --project=julia/RecovarCore julia/RecovarCore/test/runtests.jl
# (Pkg.test() needs the General registry, which is unreachable offline.)
# Every test_*.jl file in this folder is one concern's tests; each runs in a module of its
# own (so helper names cannot collide) with Test, RecovarCore and helpers.jl loaded.
using Test
using RecovarCore

const TEST_DIR = @__DIR__
const TEST_FILES = sort(filter(f -> startswith(f, "test_") && endswith(f, ".jl"), readdir(TEST_DIR)))

@testset "RecovarCore" begin
    for file in TEST_FILES
        name = Symbol("Test_", splitext(file)[1])
        @testset "$file" begin
            Core.eval(Main, :(module $name
                using Test, RecovarCore
                include($(joinpath(TEST_DIR, "helpers.jl")))
                include($(joinpath(TEST_DIR, file)))
            end))
        end
    end
end
