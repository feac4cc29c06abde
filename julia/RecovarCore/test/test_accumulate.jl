# The one accumulator (engine/accumulate.jl): block order of the sums, blocked float32
# summation, empty batch, batch of one, more accumulators than images.

using Test
using RecovarCore
using RecovarCore: accumulate_images!, Scatter, VolumeView, FullVolume, FLUSH_BLOCK, chunk_range

# work: image i adds value(i) to entry 1 + i % 3 of the (float32) accumulator
const ACC_LAYOUT = FullVolume(1, 1, 3)
acc_value(i) = Float32(1 / (3 + i))
function add_images!(s::Scatter, images::UnitRange{Int})
    for i in images
        s.data.data[1 + i % 3] += acc_value(i)
    end
    return nothing
end

# the expected sums, in accumulate_images!'s order: thread 1's images into `out` (blocks of
# FLUSH_BLOCK summed from zero first when it has more), thread t's into a zeroed copy
# (likewise), the copies added into `out` in thread order
function expected_sums(out0::Vector{Float32}, n::Int, nacc::Int)
    function blocked!(target, images)
        if length(images) <= FLUSH_BLOCK
            for i in images
                target[1 + i % 3] += acc_value(i)
            end
            return target
        end
        for start in first(images):FLUSH_BLOCK:last(images)
            block = zeros(Float32, 3)
            for i in start:min(start + FLUSH_BLOCK - 1, last(images))
                block[1 + i % 3] += acc_value(i)
            end
            target .+= block
        end
        return target
    end
    out = blocked!(copy(out0), chunk_range(1, nacc, n))
    for t in 2:nacc
        out .+= blocked!(zeros(Float32, 3), chunk_range(t, nacc, n))
    end
    return out
end

@testset "accumulate_images! sums in block order (n=$n, nacc=$nacc)" for n in (0, 1, 5, 2FLUSH_BLOCK + 7),
        nacc in (1, 2, 3, 7)
    out0 = Float32[0.5, -0.25, 2]
    out = copy(out0)
    accumulate_images!(add_images!, Scatter(VolumeView(out, ACC_LAYOUT)), n, nacc)
    @test out == expected_sums(out0, n, nacc)
    n == 0 && @test out == out0
    # the same result in every run (static blocks)
    again = copy(out0)
    accumulate_images!(add_images!, Scatter(VolumeView(again, ACC_LAYOUT)), n, nacc)
    @test again == out
end

@testset "accumulate_images!: blocked float32 sums stay close to float64" begin
    n = 3FLUSH_BLOCK + 5
    out = zeros(Float32, 3)
    accumulate_images!(add_images!, Scatter(VolumeView(out, ACC_LAYOUT)), n, 1)
    exact = zeros(Float64, 3)
    for i in 1:n
        exact[1 + i % 3] += Float64(acc_value(i))
    end
    @test maximum(abs.(out .- exact) ./ exact) < 2e-6
end
