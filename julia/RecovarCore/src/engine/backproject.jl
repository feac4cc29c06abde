# Backprojection, the adjoint of projection: every pixel scattered with the adjoint of its
# interpolation into per-thread accumulators, which are then added (blocked float32 sums).

"""
    backproject_image!(acc, slices, offset, geo, plane, order, max_r2, conjugate_partners, row, pf)

Scatter one image (`slices[offset + p]`, p over the stored pixels of `plane`) into `acc`
with the adjoint of `order` at `grid_point(geo, kx, ky)`, skipping pixels with
`kx² + ky² > max_r2`. With `conjugate_partners` (half images, orders 0/1) every packed
pixel with a partner also scatters its conjugate at `partner_frequency`, which makes this
the adjoint of slicing `half_image_to_full_image(S)`'s full image. Row by row
(`backproject_row!`): locations and prefetches first, then the scatter.
"""
function backproject_image!(acc::VolumeView, slices::AbstractVector, offset::Int, geo::SliceGeometry,
                            plane::ImagePlane, order, max_r2::Float64, conjugate_partners::Bool,
                            row::RowBuffer, pf::Prefetcher)
    (offset >= 0 && offset + npixels(plane) <= length(slices)) ||
        throw(BoundsError(slices, offset + npixels(plane)))
    (size(row.locs, 2) >= plane.width && length(row.j) >= plane.width && length(row.run.k) >= plane.width &&
     length(row.partners.k) >= plane.width) || throw(DimensionMismatch("row buffer too small"))
    limit = clip_limit(max_r2)
    for r in 0:plane.h-1
        backproject_row!(acc, slices, offset + r * plane.width, geo, plane, order, row_frequency(plane, r), limit,
                         conjugate_partners, row, pf)
    end
    return nothing
end

# One row (stored pixels slices[p+1 : p+width]), any order and layout.
function backproject_row!(acc::VolumeView, slices::AbstractVector, p::Int, geo::SliceGeometry, plane::ImagePlane,
                          order, ky::Int, limit::Int, conjugate_partners::Bool, row::RowBuffer, pf::Prefetcher)
    locs = row.locs
    js = row.j
    kept = locate_row!(locs, js, acc, geo, plane, order, ky, limit, conjugate_partners, pf, nothing, p)
    for m in 1:kept
        @inbounds j = js[m]
        @inbounds value = slices[p + j + 1]
        @inbounds scatter_at!(acc, locs[1, m], value)
        if conjugate_partners && has_conjugate_partner(plane, j)
            @inbounds scatter_at!(acc, locs[2, m], conj(value))
        end
    end
    return nothing
end

# Linear interpolation into a full volume: runs of cells (`locate_cells!`) for the pixels
# and, with half images, for their conjugate partners (kx' = −kx on one row: again a run).
# Same results as the general row.
function backproject_row!(acc::VolumeView{T,FullVolume}, slices::AbstractVector, p::Int, geo::SliceGeometry,
                          plane::ImagePlane, order::Linear, ky::Int, limit::Int, conjugate_partners::Bool,
                          row::RowBuffer, pf::Prefetcher) where {T}
    cell_runs_apply(acc.layout) ||
        return general_backproject_row!(acc, slices, p, geo, plane, order, ky, limit, conjugate_partners, row, pf)
    jlo, jhi = kept_columns(plane, ky, limit)
    count = max(0, jhi - jlo + 1)
    run = row.run
    count > 0 && locate_cells!(run, geo, acc.layout, ky, run_frequency(plane, jlo), count)
    prefetch_cells(pf, acc, run, 1, count)
    # partners of the run's columns j ≥ 1 (half images only): kx' = −j for j = jhi … plo,
    # partner t ↔ column jhi − t + 1
    plo = max(jlo, 1)
    pcount = conjugate_partners ? max(0, jhi - plo + 1) : 0
    partners = row.partners
    py = 0
    if pcount > 0
        py = partner_frequency(plane, 1, ky)[2]
        locate_cells!(partners, geo, acc.layout, py, -jhi, pcount)
        prefetch_cells(pf, acc, partners, 1, pcount)
    end
    for t in 1:count
        j = jlo + t - 1
        @inbounds value = slices[p + j + 1]
        scatter_at!(acc, cell_location(run, t, acc, geo, run_frequency(plane, j), ky), value)
        if pcount > 0 && j >= plo
            scatter_at!(acc, cell_location(partners, jhi - j + 1, acc, geo, -j, py), conj(value))
        end
    end
    # kept columns outside the run: the half-image Nyquist column (it has no partner)
    for j in 0:plane.width-1
        jlo <= j <= jhi && continue
        kx = column_frequency(plane, j)
        kx * kx + ky * ky <= limit || continue
        g0, g1, g2 = grid_point(geo, kx, ky)
        @inbounds value = slices[p + j + 1]
        scatter_linear!(acc, g0, g1, g2, value)
        if conjugate_partners && has_conjugate_partner(plane, j)
            px, qy = partner_frequency(plane, kx, ky)
            h0, h1, h2 = grid_point(geo, px, qy)
            scatter_linear!(acc, h0, h1, h2, conj(value))
        end
    end
    return nothing
end

general_backproject_row!(acc, slices, p, geo, plane, order, ky, limit, conjugate_partners, row, pf) =
    invoke(backproject_row!, Tuple{VolumeView,AbstractVector,Int,SliceGeometry,ImagePlane,Any,Int,Int,Bool,RowBuffer,
                                   Prefetcher},
           acc, slices, p, geo, plane, order, ky, limit, conjugate_partners, row, pf)

"""
Images one thread scatters before adding its partial sum into the output (32-bit element
types with more images per thread than this): a float32 running sum over 10⁵ images drifts
by ~10⁻⁴ relative; blocked summation (≤ 1024 terms per block, then one term per block)
keeps the drift at ~10⁻⁶.
"""
const FLUSH_BLOCK = 1024

"Whether running sums of element type `T` need blocking (32-bit precision)."
needs_blocking(::Type{T}) where {T} = real(T) === Float32

"`out .+= part` (one block of a blocked summation)."
function add_block!(out::AbstractVector, part::AbstractVector)
    @inbounds @simd for k in eachindex(out, part)
        out[k] += part[k]
    end
    return out
end

function backproject_images!(acc::VolumeView, slices::AbstractVector, b::Int, n::Int,
                             rotations::AbstractArray{<:Real,3}, plane::ImagePlane, order, u::Int,
                             max_r2::Float64, conjugate_partners::Bool, images::UnitRange{Int}, kind::Symbol)
    T = eltype(acc.data)
    if !needs_blocking(T) || length(images) <= FLUSH_BLOCK
        return backproject_image_range!(acc, slices, b, n, rotations, plane, order, u, max_r2,
                                        conjugate_partners, images, kind)
    end
    # Blocked summation (needs_blocking, FLUSH_BLOCK): a float32 running sum over
    # 10⁵ images drifts by ~4e-4; summing blocks of FLUSH_BLOCK images first, then adding
    # each block into `acc` in order, keeps it ~1e-6 and the result reproducible.
    block = VolumeView(zeros(T, length(acc.data)), acc.layout)
    for start in first(images):FLUSH_BLOCK:last(images)
        start > first(images) && fill!(block.data, zero(T))
        GC.@preserve block backproject_image_range!(block, slices, b, n, rotations, plane, order, u, max_r2,
                                                    conjugate_partners, start:min(start + FLUSH_BLOCK - 1, last(images)),
                                                    kind)
        add_block!(acc.data, block.data)
    end
    return nothing
end

function backproject_image_range!(acc::VolumeView, slices::AbstractVector, b::Int, n::Int,
                                  rotations::AbstractArray{<:Real,3}, plane::ImagePlane, order, u::Int,
                                  max_r2::Float64, conjugate_partners::Bool, images::UnitRange{Int}, kind::Symbol)
    npix = npixels(plane)
    center = slice_center(order, acc.layout)
    Tc = promote_type(Float32, eltype(rotations))
    row = row_buffer(order, Tc, plane.width)
    pf = Prefetcher(acc.data, kind)
    for i in images
        geo = slice_geometry(rotations, i, u, center)
        backproject_image!(acc, slices, ((b - 1) * n + (i - 1)) * npix, geo, plane, order, max_r2,
                           conjugate_partners, row, pf)
    end
    return nothing
end

"""
    backproject!(accs, slices, b, rotations, plane, order, u, max_r2, conjugate_partners)

Backproject images `slices[:, :, b]` (flat (npix, n, B)) into the accumulators `accs`
(one `VolumeView` per thread, same layout, dense data): thread t scatters its block of
images into `accs[t]`. The caller sums the accumulators.
"""
function backproject!(accs::Vector{V}, slices::AbstractVector, b::Int, rotations::AbstractArray{<:Real,3},
                      plane::ImagePlane, order, u::Int, max_r2::Float64, conjugate_partners::Bool) where {V<:VolumeView}
    n = size(rotations, 3)
    nthreads = length(accs)
    kind = prefetch_kind()
    GC.@preserve accs begin
        if nthreads == 1
            backproject_images!(accs[1], slices, b, n, rotations, plane, order, u, max_r2, conjugate_partners,
                                1:n, kind)
        else
            # Static blocks (not `ImageBlocks`): which images a thread sums decides the
            # rounding, and results should not change from one run to the next.
            Threads.@threads for t in 1:nthreads
                backproject_images!(accs[t], slices, b, n, rotations, plane, order, u, max_r2,
                                    conjugate_partners, chunk_range(t, nthreads, n), kind)
            end
        end
    end
    return nothing
end

"""
    fold_full_into_half!(half::VolumeView{T,HalfVolume}, full::AbstractVector)

`half += fold(full)`, the adjoint of `half_volume_to_full_volume` (real inner product):
every full grid point is added with `add_voxel!` (kernels.md §2).
"""
function fold_full_into_half!(half::VolumeView{T,HalfVolume}, full::AbstractVector) where {T}
    l = half.layout
    length(full) == l.n0 * l.n1 * l.n2 || throw(DimensionMismatch("full volume has $(length(full)) entries"))
    k = 0
    for i0 in 0:l.n0-1, i1 in 0:l.n1-1, i2 in 0:l.n2-1
        k += 1
        @inbounds add_voxel!(half, i0, i1, i2, convert(T, full[k]))
    end
    return half
end

# Threads worth using for a backprojection: extra accumulators cost a volume each to clear
# and to add, so they pay only when the scatter work is larger than that.
function backprojection_threads(n_images::Int, npix::Int, volume_length::Int, order)
    work = n_images * npix * (order isa Cubic ? 64 : order isa Linear ? 8 : 1)
    return max(1, min(Threads.nthreads(), n_images, work ÷ max(volume_length, 1)))
end

"""
    adjoint_slice_volumes!(out, slices, rotations, plane, order, layout, u, max_r2, conjugate_partners)

`out[:, b] += Pᵀ slices[:, :, b]` for every batch element b: `out` (stored_length(layout), B),
`slices` flat (npix, n, B). Orders 0/1: scatter into per-thread accumulators (thread 1
scatters straight into `out`), then add. Cubic: the adjoint of `v ↦ slice(coefficients(v))`
(with a half `layout`, of `h ↦ slice(coefficients(expand(h)))`): scatter into full-volume
accumulators, apply the (self-adjoint) coefficient operator, fold if half, add.
"""
function adjoint_slice_volumes!(out::AbstractMatrix{T}, slices::AbstractVector, rotations::AbstractArray{<:Real,3},
                                plane::ImagePlane, order, layout::VolumeLayout, u::Int, max_r2::Float64,
                                conjugate_partners::Bool) where {T}
    n = size(rotations, 3)
    B = size(out, 2)
    size(out, 1) == stored_length(layout) ||
        throw(DimensionMismatch("output volumes have $(size(out, 1)) entries, layout needs $(stored_length(layout))"))
    length(slices) == npixels(plane) * n * B ||
        throw(DimensionMismatch("slices have $(length(slices)) entries, expected $(npixels(plane) * n * B)"))
    n == 0 && return out
    if order isa Cubic
        full = FullVolume(layout.n0, layout.n1, layout.n2)
        nacc = backprojection_threads(n, npixels(plane), stored_length(full), order)
        buffers = [zeros(T, stored_length(full)) for _ in 1:nacc]
        accs = [VolumeView(buffer, full) for buffer in buffers]
        for b in 1:B
            b > 1 && foreach(buf -> fill_threaded!(buf, zero(T)), buffers)
            backproject!(accs, slices, b, rotations, plane, order, u, max_r2, conjugate_partners)
            for t in 2:nacc
                add_into!(buffers[1], buffers[t])
            end
            spline_coefficients!(reshape(buffers[1], layout.n2, layout.n1, layout.n0))
            if layout isa HalfVolume
                fold_full_into_half!(VolumeView(view(out, :, b), layout), buffers[1])
            else
                add_into!(view(out, :, b), buffers[1])
            end
        end
        return out
    end
    nacc = backprojection_threads(n, npixels(plane), stored_length(layout), order)
    # thread 1 scatters straight into out[:, b]; the others into (V, 1) buffers, whose
    # column views have the same type as out's columns
    buffers = [zeros(T, stored_length(layout), 1) for _ in 2:nacc]
    for b in 1:B
        b > 1 && foreach(buf -> fill_threaded!(vec(buf), zero(T)), buffers)
        target = view(out, :, b)
        accs = [VolumeView(target, layout)]
        for buffer in buffers
            push!(accs, VolumeView(view(buffer, :, 1), layout))
        end
        backproject!(accs, slices, b, rotations, plane, order, u, max_r2, conjugate_partners)
        for buffer in buffers
            add_into!(target, vec(buffer))
        end
    end
    return out
end
