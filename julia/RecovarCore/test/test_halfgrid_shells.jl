# The reconstruct job's passes over its half-grid sums against plain loops over the same cells.
using Random: MersenneTwister

function reference_cells(P)
    s, h = P ÷ 2, P ÷ 2 + 1
    return [(j, i1, i0, (i0 - 1 - s)^2 + (i1 - 1 - s)^2 + (j - 1)^2, (j == 1 || (iseven(P) && j == h)) ? 1.0f0 : 2.0f0)
            for i0 in 1:P for i1 in 1:P for j in 1:h]
end

shell_of(P, last) = Int32[min(round(Int, sqrt(r2)), last) for r2 in 0:3 * (P ÷ 2)^2]

@testset "half-grid shell passes, P = $P" for P in (7, 8, 11)
    rng = MersenneTwister(P)
    h, n = P ÷ 2 + 1, P ÷ 2 + 1
    data1, data2 = randn(rng, ComplexF32, h, P, P), randn(rng, ComplexF32, h, P, P)
    weights1, weights2 = rand(rng, Float32, h, P, P), rand(rng, Float32, h, P, P)
    lam_r2, floor_r2 = rand(rng, Float32, 3 * (P ÷ 2)^2 + 1), rand(rng, Float32, 3 * (P ÷ 2)^2 + 1)
    shells = shell_of(P, n - 1)
    cells = reference_cells(P)

    sums = RecovarCore.shell_weight_sums!(zeros(n), weights1, weights2, shells)
    expected = zeros(n)
    for (j, i1, i0, r2, m) in cells
        expected[shells[r2 + 1] + 1] += (weights1[j, i1, i0] + weights2[j, i1, i0]) * 0.5f0
    end
    @test sums ≈ expected rtol = 1e-12

    fsc_sums = RecovarCore.shell_fsc_sums!(zeros(n, 3), data1, data2, weights1, weights2, floor_r2, shells)
    plain = RecovarCore.shell_fsc_sums!(zeros(n, 3), data1, data2, Array{Float32}(undef, 0, 0, 0),
                                        Array{Float32}(undef, 0, 0, 0), floor_r2, shells)
    expected, expected_plain = zeros(n, 3), zeros(n, 3)
    for (j, i1, i0, r2, m) in cells
        s = shells[r2 + 1] + 1
        a, b = data1[j, i1, i0], data2[j, i1, i0]
        for (x, y, out) in ((a, b, expected_plain),
                            (a / max(weights1[j, i1, i0], m * floor_r2[r2 + 1]),
                             b / max(weights2[j, i1, i0], m * floor_r2[r2 + 1]), expected))
            out[s, 1] += m * real(x * conj(y))
            out[s, 2] += m * abs2(x)
            out[s, 3] += m * abs2(y)
        end
    end
    @test fsc_sums ≈ expected rtol = 1e-5
    @test plain ≈ expected_plain rtol = 1e-5
    # the plain rfft layout of axes i1, i0 sums the same cells as its centred copy
    uncentre(x) = circshift(x, (0, -(P ÷ 2), -(P ÷ 2)))
    @test RecovarCore.shell_fsc_sums!(zeros(n, 3), uncentre(data1), uncentre(data2), Array{Float32}(undef, 0, 0, 0),
                                      Array{Float32}(undef, 0, 0, 0), floor_r2, shells, false) ≈ plain rtol = 1e-12

    for which in 0:3, (first_row, w) in ((0, P), (2, 1), (P - 3, 3))
        out = RecovarCore.wiener_rows!(Array{ComplexF32}(undef, h, w, P), data1, data2, weights1, weights2,
                                       lam_r2, floor_r2, first_row, which)
        ok = true
        for (j, i1, i0, r2, m) in cells
            first_row < i1 <= first_row + w || continue
            b = which == 0 ? data1[j, i1, i0] : which == 1 ? data2[j, i1, i0] : data1[j, i1, i0] + data2[j, i1, i0]
            wt = which == 0 ? weights1[j, i1, i0] : which == 1 ? weights2[j, i1, i0] : weights1[j, i1, i0] + weights2[j, i1, i0]
            lam = which == 3 ? 0.0f0 : lam_r2[r2 + 1]
            ok &= isapprox(out[j, i1 - first_row, i0], b / max(wt + m * lam, m * floor_r2[r2 + 1]); rtol=1e-6)
        end
        @test ok
    end
    @test_throws ArgumentError RecovarCore.wiener_rows!(Array{ComplexF32}(undef, h, 2, P), data1, data2, weights1,
                                                        weights2, lam_r2, floor_r2, P - 1, 0)
    @test_throws ArgumentError RecovarCore.wiener_rows!(Array{ComplexF32}(undef, h, 2, P), data1, data2, weights1,
                                                        weights2, lam_r2, floor_r2, 0, 4)
    @test_throws DimensionMismatch RecovarCore.shell_weight_sums!(zeros(n), weights1, weights2[:, :, 1:end-1], shells)
end
