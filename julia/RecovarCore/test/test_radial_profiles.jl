# The radial Wiener filter's radial sums and weighting against plain loops over the voxels.
using Random: MersenneTwister

@testset "radial profiles, n = $n" for n in (7, 8)
    rng = MersenneTwister(n)
    a1, a2 = randn(rng, Float32, n, n, n), randn(rng, Float32, n, n, n)
    bin_r2 = Int32[round(Int, sqrt(Float32(r2))) for r2 in 0:3 * (n ÷ 2)^2]
    nbins = maximum(bin_r2) + 1
    r2(i, j, l) = (i - 1 - n ÷ 2)^2 + (j - 1 - n ÷ 2)^2 + (l - 1 - n ÷ 2)^2

    sums = RecovarCore.radial_pair_sums!(zeros(nbins, 2), a1, a2, bin_r2)
    expected = zeros(nbins, 2)
    for l in 1:n, j in 1:n, i in 1:n
        b = bin_r2[r2(i, j, l) + 1] + 1
        expected[b, 1] += a1[i, j, l] * a2[i, j, l]
        expected[b, 2] += (a1[i, j, l] - a2[i, j, l])^2
    end
    @test sums ≈ expected rtol = 1e-6
    # bins past the end are dropped
    @test RecovarCore.radial_pair_sums!(zeros(2, 2), a1, a2, bin_r2) ≈ expected[1:2, :] rtol = 1e-6

    weight_bins = rand(rng, Float32, nbins)
    out = copy(a2)
    RecovarCore.add_radially_weighted!(out, a1, weight_bins, bin_r2)
    @test out == [a2[i, j, l] + weight_bins[bin_r2[r2(i, j, l) + 1] + 1] * a1[i, j, l] for i in 1:n, j in 1:n, l in 1:n]
    @test_throws DimensionMismatch RecovarCore.add_radially_weighted!(out, a1, weight_bins[1:end-1], bin_r2)
    @test_throws DimensionMismatch RecovarCore.radial_pair_sums!(zeros(nbins, 2), a1, a2[:, :, 1:end-1], bin_r2)
end
