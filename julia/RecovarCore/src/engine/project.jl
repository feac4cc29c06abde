# Projection ("slicing"): images of volumes along rotated central planes, threaded over
# images. The per-pixel work is an interpolation order's `evaluate` (src/interp/).

"""
    slice_image!(out, offset, vol, geo, plane, order, max_r2, row, pf)

Project one image: for every stored pixel p of `plane`, `out[offset + p]` = the `order`
interpolation of `vol` at `grid_point(geo, kx, ky)`, or zero if `kx² + ky² > max_r2`.
Row by row (`slice_row!`): first the locations (prefetching their cells with `pf`), then
the values.
"""
function slice_image!(out::AbstractVector, offset::Int, vol::VolumeView, geo::SliceGeometry,
                      plane::ImagePlane, order, max_r2::Float64, row::RowBuffer, pf::Prefetcher)
    (offset >= 0 && offset + npixels(plane) <= length(out)) || throw(BoundsError(out, offset + npixels(plane)))
    (size(row.locs, 2) >= plane.width && length(row.j) >= plane.width && length(row.run.k) >= plane.width) ||
        throw(DimensionMismatch("row buffer too small"))
    limit = clip_limit(max_r2)
    for r in 0:plane.h-1
        slice_row!(out, offset + r * plane.width, vol, geo, plane, order, row_frequency(plane, r), limit, row, pf)
    end
    return nothing
end

# The value stored for column j: the interpolated `value`, times the row's weight of column
# j for the forward model (`weights[j + 1]`, the CTF; `nothing`: slicing).
@inline stored_value(::Type{To}, value, ::Nothing, j::Int) where {To} = convert(To, value)
@inline stored_value(::Type{To}, value, weights::Vector{Float64}, j::Int) where {To} =
    @inbounds convert(To, value) * real(To)(weights[j + 1])

# One row (stored pixels out[p+1 : p+width]), any order and layout; the kept pixels
# weighted by `weights` (`stored_value`; checked to cover the row), the others zero.
function slice_row!(out::AbstractVector{To}, p::Int, vol::VolumeView, geo::SliceGeometry, plane::ImagePlane, order,
                    ky::Int, limit::Int, row::RowBuffer, pf::Prefetcher, weights=nothing) where {To}
    check_weights(weights, plane)
    locs = row.locs
    js = row.j
    kept = locate_row!(locs, js, vol, geo, plane, order, ky, limit, false, pf, out, p)
    for m in 1:kept
        @inbounds j = js[m]
        @inbounds out[p + j + 1] = stored_value(To, evaluate(vol, locs[1, m]), weights, j)
    end
    return nothing
end

# Linear interpolation of a full volume: the kept pixels of a row form a run of consecutive
# kx, located in one vectorised loop (`locate_cells!`); same results as the general row.
function slice_row!(out::AbstractVector{To}, p::Int, vol::VolumeView{T,FullVolume}, geo::SliceGeometry,
                    plane::ImagePlane, order::Linear, ky::Int, limit::Int, row::RowBuffer,
                    pf::Prefetcher, weights=nothing) where {To,T}
    cell_runs_apply(vol.layout) ||
        return general_slice_row!(out, p, vol, geo, plane, order, ky, limit, row, pf, weights)
    check_weights(weights, plane)
    jlo, jhi, count = row_run(plane, ky, limit)
    run = row.run
    lo = run_frequency(plane, jlo)
    if count > 0
        locate_cells!(run, geo, vol.layout, ky, lo, count)
        prefetch_cells(pf, vol, run, 1, count)
    end
    zero_outside_run!(out, p, plane, jlo, jhi)
    slice_nyquist_column!(out, p, vol, geo, plane, order, ky, limit, weights)
    for t in 1:count
        @inbounds out[p + jlo + t] = stored_value(To, run_value(run, t, vol, geo, lo + t - 1, ky), weights, jlo + t - 1)
    end
    return nothing
end

# Nearest interpolation: the kept pixels of a row form a run of consecutive kx, located in
# one vectorised loop (`locate_voxels!`), then one gather per pixel; same results as the
# general row.
function slice_row!(out::AbstractVector{To}, p::Int, vol::VolumeView, geo::SliceGeometry, plane::ImagePlane,
                    order::Nearest, ky::Int, limit::Int, row::RowBuffer, pf::Prefetcher, weights=nothing) where {To}
    voxel_runs_apply(vol.layout) ||
        return general_slice_row!(out, p, vol, geo, plane, order, ky, limit, row, pf, weights)
    check_weights(weights, plane)
    jlo, jhi, count = row_run(plane, ky, limit)
    ks = row.run.k
    if count > 0
        locate_voxels!(ks, geo, vol.layout, ky, run_frequency(plane, jlo), count)
        prefetch_voxels(pf, ks, count)
    end
    zero_outside_run!(out, p, plane, jlo, jhi)
    slice_nyquist_column!(out, p, vol, geo, plane, order, ky, limit, weights)
    for t in 1:count
        @inbounds out[p + jlo + t] = stored_value(To, voxel_value(vol, ks[t]), weights, jlo + t - 1)
    end
    return nothing
end

# the even-w half-image Nyquist column j = w/2 (kx = −w/2), which is outside the row's run
@inline function slice_nyquist_column!(out::AbstractVector{To}, p::Int, vol::VolumeView, geo::SliceGeometry,
                                       plane::ImagePlane, order, ky::Int, limit::Int, weights) where {To}
    (plane.half && iseven(plane.w)) || return nothing
    j = plane.w ÷ 2
    if j * j + ky * ky <= limit
        g0, g1, g2 = grid_point(geo, -j, ky)
        @inbounds out[p + j + 1] = stored_value(To, sample(order, vol, g0, g1, g2), weights, j)
    end
    return nothing
end

general_slice_row!(out, p, vol, geo, plane, order, ky, limit, row, pf, weights=nothing) =
    invoke(slice_row!,
           Tuple{AbstractVector,Int,VolumeView,SliceGeometry,ImagePlane,Any,Int,Int,RowBuffer,Prefetcher,Any},
           out, p, vol, geo, plane, order, ky, limit, row, pf, weights)

check_weights(::Nothing, plane::ImagePlane) = nothing
check_weights(weights::Vector{Float64}, plane::ImagePlane) =
    length(weights) >= plane.width || throw(DimensionMismatch("row weights shorter than the row"))

# images i in `images`, every volume of `vols`: out (npix, n, B) flattened
function slice_images!(out::AbstractVector, vols::Vector{V}, rotations::AbstractArray{<:Real,3},
                       plane::ImagePlane, order, u::Int, max_r2::Float64, images::UnitRange{Int},
                       kind::Symbol) where {V<:VolumeView}
    npix = npixels(plane)
    n = size(rotations, 3)
    Tc = promote_type(Float32, eltype(rotations))
    row = row_buffer(order, Tc, plane.width)
    center = slice_center(order, vols[1].layout)
    for b in eachindex(vols)
        pf = Prefetcher(vols[b].data, kind)
        for i in images
            geo = slice_geometry(rotations, i, u, center)
            slice_image!(out, ((b - 1) * n + (i - 1)) * npix, vols[b], geo, plane, order, max_r2, row, pf)
        end
    end
    return nothing
end

"Outputs at least this large are faulted in up front (`touch_pages!`)."
const TOUCH_BYTES = 1 << 24

"""
    slice_volumes!(out, vols, rotations, plane, order, u, max_r2)

Project every volume of `vols` (a vector of `VolumeView`s of one layout) with every
rotation: `out` is the flat (npix, n, B) result (NumPy (B, n, npix)). Threads take
contiguous blocks of images on demand (`on_demand_blocks`).
"""
function slice_volumes!(out::AbstractVector, vols::Vector{V}, rotations::AbstractArray{<:Real,3},
                        plane::ImagePlane, order, u::Int, max_r2::Float64) where {V<:VolumeView}
    n = size(rotations, 3)
    length(out) == npixels(plane) * n * length(vols) ||
        throw(DimensionMismatch("output has $(length(out)) entries, expected $(npixels(plane) * n * length(vols))"))
    (n == 0 || isempty(vols)) && return out
    kind = prefetch_kind()
    out isa DenseVector && sizeof(out) >= TOUCH_BYTES && touch_pages!(out)
    GC.@preserve vols begin
        on_demand_blocks(n) do blocks
            for images in blocks
                slice_images!(out, vols, rotations, plane, order, u, max_r2, images, kind)
            end
        end
    end
    return out
end
