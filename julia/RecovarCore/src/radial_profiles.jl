# Radial profiles of real-space maps about the box centre, for the reconstruct job's radial
# Wiener filter (recovar_jl/jobs/radial_wiener.py): per band, the radial sums of the half
# maps' product and squared difference, and the band's radially weighted addition to the
# result. Each is one threaded pass over the n³ maps instead of NumPy's temporaries.
#
# The voxel [i, j, l] (1-based, any axis order: the radius is symmetric) is at distance
# √(r2) from the centre, r2 = (i − 1 − n÷2)² + (j − 1 − n÷2)² + (l − 1 − n÷2)²; its radius bin
# comes from a per-r2 table (`bin_r2[r2 + 1]`, 0-based bins), so the caller decides the binning.

"Integer squared distance of voxel (i, j, l) (1-based) from the centre of an n³ box."
@inline voxel_r2(i::Int, j::Int, l::Int, n::Int) = (i - 1 - n ÷ 2)^2 + (j - 1 - n ÷ 2)^2 + (l - 1 - n ÷ 2)^2

function check_radial(name::String, volume::AbstractArray{<:Any,3}, n::Int, bin_r2::AbstractVector)
    size(volume) == (n, n, n) || throw(DimensionMismatch("$name must be of size $((n, n, n)), got $(size(volume))"))
    length(bin_r2) >= 3 * (n ÷ 2)^2 + 1 ||
        throw(DimensionMismatch("bin_r2 needs an entry per r2 = 0 … $(3 * (n ÷ 2)^2), got $(length(bin_r2))"))
end

"""
    radial_pair_sums!(sums, a1, a2, bin_r2)

Per radius bin b (`bin_r2`, Int32 per r2): `sums[b + 1, 1] += a1·a2` and `sums[b + 1, 2] +=
(a1 − a2)²`, each term Float32 (as the maps), summed in Float64. `a1`, `a2` (n, n, n)
Float32; `sums` (nbins, 2) Float64; bins ≥ nbins are dropped. Threads over blocks of the
last axis (`blockwise_sums!`): the same result in every run.
"""
function radial_pair_sums!(sums::AbstractMatrix{Float64}, a1::AbstractArray{Float32,3}, a2::AbstractArray{Float32,3},
                           bin_r2::AbstractVector{Int32})
    n = size(a1, 1)
    check_radial("a1", a1, n, bin_r2)
    check_radial("a2", a2, n, bin_r2)
    size(sums, 2) == 2 || throw(DimensionMismatch("sums must have 2 columns, got $(size(sums, 2))"))
    nbins = size(sums, 1)
    return blockwise_sums!(sums, n, (partial, planes) -> begin
        @inbounds for l in planes, j in 1:n, i in 1:n
            bin = bin_r2[voxel_r2(i, j, l, n) + 1]
            0 <= bin < nbins || continue
            x, y = a1[i, j, l], a2[i, j, l]
            d = x - y
            partial[bin + 1, 1] += Float64(x * y)
            partial[bin + 1, 2] += Float64(d * d)
        end
    end)
end

"""
    add_radially_weighted!(out, values, weight_bins, bin_r2)

`out += weight_bins[bin + 1] · values` voxel by voxel (Float32, product then sum, as NumPy's
`out += weight[rbin] * values`), the bin from `bin_r2`. `out`, `values` (n, n, n) Float32,
`weight_bins` Float32 with an entry per bin.
"""
function add_radially_weighted!(out::AbstractArray{Float32,3}, values::AbstractArray{Float32,3},
                                weight_bins::AbstractVector{Float32}, bin_r2::AbstractVector{Int32})
    n = size(out, 1)
    check_radial("out", out, n, bin_r2)
    check_radial("values", values, n, bin_r2)
    used = view(bin_r2, 1:3 * (n ÷ 2)^2 + 1)
    0 <= minimum(used) && maximum(used) < length(weight_bins) ||
        throw(DimensionMismatch("weight_bins has $(length(weight_bins)) bins, bin_r2 uses 0 … $(maximum(used))"))
    nblocks = max(1, min(Threads.nthreads(), n))
    static_blocks(n, nblocks) do _, planes
        @inbounds for l in planes, j in 1:n, i in 1:n
            out[i, j, l] += weight_bins[bin_r2[voxel_r2(i, j, l, n) + 1] + 1] * values[i, j, l]
        end
    end
    return out
end

radial_pair_sums_kernel!(sums, a1, a2, bin_r2) = (radial_pair_sums!(sums, a1, a2, bin_r2); nothing)
add_radially_weighted_kernel!(out, values, weight_bins, bin_r2) =
    (add_radially_weighted!(out, values, weight_bins, bin_r2); nothing)

register_kernel("radial_pair_sums", radial_pair_sums_kernel!)
register_kernel("add_radially_weighted", add_radially_weighted_kernel!)
