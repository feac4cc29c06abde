# Backprojection, the adjoint of projection: every pixel scattered with the adjoint of its
# interpolation. One engine for one accumulator (`Pᵀ y`) and for the fused pair of the
# reconstruction (`Pᵀ(c·y)` and `Pᵀ w` from one location per pixel). Threads either fill
# per-thread copies that are then added (blocked float32 sums), or share one accumulator,
# each updating only its slab of axis 0 (`Slab`; same sums as one thread, bit for bit).

"""
    Slab(i0_first, i0_last, entries)

The part of a volume one thread updates: stored planes `i0_first:i0_last` of axis 0 (the
slowest), i.e. the stored entries `entries` (a contiguous range).
"""
struct Slab
    i0_first::Int
    i0_last::Int
    entries::UnitRange{Int}
end
Slab(l::VolumeLayout, planes::UnitRange{Int}) =
    Slab(first(planes), last(planes), (first(planes) * stride0(l) + 1):((last(planes) + 1) * stride0(l)))

"""
    Scatter(data, weights=nothing, slab=nothing)

Where a backprojection scatters: `data` (a `VolumeView`), for a fused pass also `weights`
(a real `VolumeView` of the same layout), and for a slab thread the `Slab` it may update
(`nothing`: everything).
"""
struct Scatter{A<:VolumeView,W<:Union{Nothing,VolumeView},S<:Union{Nothing,Slab}}
    data::A
    weights::W
    slab::S
end
Scatter(data::VolumeView) = Scatter(data, nothing, nothing)
with_slab(s::Scatter, slab::Slab) = Scatter(s.data, s.weights, slab)

"""
    FusedPixels(values, multipliers, weights)

Per-pixel inputs of a fused pass, flat like the slices: pixel k scatters
`multipliers[k]·values[k]` into the data and `weights[k]` into the weights (real arrays).
"""
struct FusedPixels{S<:AbstractVector,C<:AbstractVector{<:Real},W<:AbstractVector{<:Real}}
    values::S
    multipliers::C
    weights::W
end
Base.length(src::FusedPixels) = length(src.values)

# the value(s) pixel k, located at `loc`, scatters (`loc` is for sources that sample a
# volume there, forward.jl's `SampledRow`), and those of its conjugate partner
@inline pixel_value(src::AbstractVector, k::Int, loc) = @inbounds src[k]
@inline pixel_value(src::FusedPixels, k::Int, loc) = @inbounds (src.multipliers[k] * src.values[k], src.weights[k])
@inline partner_value(value) = conj(value)

# Sources whose per-pixel values are computed per row (ctf_pixels.jl's `CTFPixels`): each
# thread works on its own copy, and the values of row r of the image at `offset` are loaded
# before the row is scattered. Arrays need neither.
thread_source(src) = src
load_row!(src, offset::Int, r::Int, plane::ImagePlane, ky::Int, limit::Int) = nothing
@inline partner_value(value::Tuple) = (conj(value[1]), value[2])

"Add the pixel value(s) at a location: the data (and the weights of a fused pass), within the slab."
@inline scatter_value!(s::Scatter{A,Nothing}, loc, value) where {A} = scatter_in_slab!(s.data, s.slab, loc, value)
@inline function scatter_value!(s::Scatter{A,<:VolumeView}, loc, value::Tuple) where {A}
    scatter_in_slab!(s.data, s.slab, loc, value[1])
    scatter_in_slab!(s.weights, s.slab, loc, value[2])
    return nothing
end

@inline scatter_in_slab!(acc::VolumeView, ::Nothing, loc, value) = scatter_at!(acc, loc, value)

@inline function scatter_in_slab!(acc::VolumeView, slab::Slab, loc::VoxelLocation, value)
    (loc.kind != OUTSIDE && loc.k in slab.entries) && scatter_at!(acc, loc, value)
    return nothing
end

# a cell entirely in the slab: the usual scatter; entirely outside: nothing; otherwise (or
# GENERAL) the scalar scatter into a view that drops the entries outside the slab (same
# operations per entry, so the same sums)
@inline function scatter_in_slab!(acc::VolumeView, slab::Slab, loc::CellLocation, value)
    loc.kind == OUTSIDE && return nothing
    lo, hi = first(slab.entries), last(slab.entries)
    span = stride0(acc.layout) + stride1(acc.layout) + 1
    if loc.kind == DIRECT || loc.kind == CONJUGATED
        a, b = loc.kind == DIRECT ? (loc.k, loc.k + span) : (loc.k - span, loc.k)
        (b < lo || a > hi) && return nothing
        (lo <= a && b <= hi) && return scatter_at!(acc, loc, value)
    end
    scatter_cell!(VolumeView(SlabEntries(acc.data, slab.entries), acc.layout), loc, value)
    return nothing
end

"A vector whose writes outside `entries` are dropped (reads see the whole parent)."
struct SlabEntries{T,A<:AbstractVector{T}} <: AbstractVector{T}
    parent::A
    entries::UnitRange{Int}
end
Base.size(v::SlabEntries) = size(v.parent)
Base.@propagate_inbounds Base.getindex(v::SlabEntries, k::Int) = v.parent[k]
Base.@propagate_inbounds function Base.setindex!(v::SlabEntries, x, k::Int)
    k in v.entries && (v.parent[k] = x)
    return v
end

"""
    touches_slab(slab, layout, g0, g2) -> Bool

Whether a pixel at grid point `(g0, ·, g2)` may update a stored entry of `slab` (always
true without a slab): its cell's planes `floor(g0)`, `floor(g0) + 1` (the nearest plane is
one of them) where the cell has corners stored directly, and, for a half volume, their
conjugate partner planes where it has corners at kz < 0 (stored at the partner).
Conservative: a true answer may still update nothing.
"""
@inline touches_slab(::Nothing, l::VolumeLayout, g0, g2) = true
@inline function touches_slab(slab::Slab, l::VolumeLayout, g0::Tc, g2::Tc) where {Tc}
    b = floor(g0)
    a, z = Tc(slab.i0_first), Tc(slab.i0_last)
    direct = (a - 1 <= b) & (b <= z)
    l isa HalfVolume || return direct
    b2 = floor(g2)
    c2 = Tc(l.c2)
    # corners at kz = b2 − c2 and b2 − c2 + 1: stored directly if kz ≥ 0 (and i2 = 0 for even
    # n2, the Nyquist plane), at the partner if kz < 0
    direct &= (b2 + 1 >= c2) | (b2 <= 0)
    n = Tc(l.n0)
    # partner planes of b, b + 1: n − i (even n0, and 0 ↔ 0) or n − 1 − i (odd n0)
    partner = (b2 < c2) & (((n - z - 2 <= b) & (b <= n - a)) | ((slab.i0_first == 0) & (b <= 0) & (b >= -1)))
    return direct | partner
end

"Prefetches into two volumes of one layout (so the same entries): a fused pass's data and weights, or AᵀAv's accumulator and sampled volume."
struct PairPrefetcher{P<:Prefetcher,Q<:Prefetcher}
    data::P
    weights::Q
end
@inline function prefetch_location(pf::PairPrefetcher, v::VolumeView, loc)
    prefetch_location(pf.data, v, loc)
    prefetch_location(pf.weights, v, loc)
end
@inline function prefetch_cells(pf::PairPrefetcher, vol::VolumeView, run::CellRun, first::Int, last::Int)
    prefetch_cells(pf.data, vol, run, first, last)
    prefetch_cells(pf.weights, vol, run, first, last)
end
scatter_prefetcher(s::Scatter{A,Nothing}, kind::Symbol) where {A} = Prefetcher(s.data.data, kind)
scatter_prefetcher(s::Scatter{<:VolumeView,<:VolumeView}, kind::Symbol) = PairPrefetcher(Prefetcher(s.data.data, kind),
                                                               Prefetcher(s.weights.data, kind))

"""
    backproject_image!(acc, slices, offset, geo, plane, order, max_r2, conjugate_partners, row, pf)

Scatter one image (`slices[offset + p]`, p over the stored pixels of `plane`) into `acc`
(a `VolumeView` or a `Scatter`; for a fused `Scatter`, `slices` is a `FusedPixels`) with
the adjoint of `order` at `grid_point(geo, kx, ky)`, skipping pixels with
`kx² + ky² > max_r2`. With `conjugate_partners` (half images, orders 0/1) every packed
pixel with a partner also scatters its conjugate at `partner_frequency`, which makes this
the adjoint of slicing `half_image_to_full_image(S)`'s full image. Row by row
(`backproject_row!`): locations and prefetches first, then the scatter.
"""
backproject_image!(acc::VolumeView, slices::AbstractVector, offset::Int, geo::SliceGeometry, plane::ImagePlane,
                   order, max_r2::Float64, conjugate_partners::Bool, row::RowBuffer, pf::Prefetcher) =
    backproject_image!(Scatter(acc), slices, offset, geo, plane, order, max_r2, conjugate_partners, row, pf)

function backproject_image!(s::Scatter, src, offset::Int, geo::SliceGeometry, plane::ImagePlane, order,
                            max_r2::Float64, conjugate_partners::Bool, row::RowBuffer, pf)
    (offset >= 0 && offset + npixels(plane) <= length(src)) ||
        throw(BoundsError(src, offset + npixels(plane)))
    (size(row.locs, 2) >= plane.width && length(row.j) >= plane.width && length(row.run.k) >= plane.width &&
     length(row.partners.k) >= plane.width) || throw(DimensionMismatch("row buffer too small"))
    limit = clip_limit(max_r2)
    for r in 0:plane.h-1
        ky = row_frequency(plane, r)
        load_row!(src, offset, r, plane, ky, limit)
        backproject_row!(s, src, offset + r * plane.width, geo, plane, order, ky, limit, conjugate_partners, row, pf)
    end
    return nothing
end

# One row (stored pixels src[p+1 : p+width]), any order and layout.
function backproject_row!(s::Scatter, src, p::Int, geo::SliceGeometry, plane::ImagePlane, order, ky::Int,
                          limit::Int, conjugate_partners::Bool, row::RowBuffer, pf)
    locs = row.locs
    js = row.j
    kept = locate_row!(locs, js, s.data, geo, plane, order, ky, limit, conjugate_partners, pf, nothing, p, s.slab)
    for m in 1:kept
        @inbounds j = js[m]
        @inbounds loc = locs[1, m]
        value = pixel_value(src, p + j + 1, loc)
        @inbounds scatter_value!(s, loc, value)
        if conjugate_partners && has_conjugate_partner(plane, j)
            @inbounds scatter_value!(s, locs[2, m], partner_value(value))
        end
    end
    return nothing
end

# the pixel at `src`'s entry k whose cell is not entirely in the grid (rare; kept out of
# line so the run loop stays small)
@noinline function scatter_edge!(s::Scatter, src, k::Int, geo::SliceGeometry, kx::Int, ky::Int)
    g0, g1, g2 = grid_point(geo, kx, ky)
    loc = locate_linear(s.data, g0, g1, g2)
    scatter_value!(s, loc, pixel_value(src, k, loc))
    return nothing
end

# Linear interpolation into a full volume: runs of cells (`locate_cells!`) for the pixels
# and, with half images, for their conjugate partners (kx' = −kx on one row: again a run).
# Same results as the general row.
function backproject_row!(s::Scatter{<:VolumeView{T,FullVolume}}, src, p::Int, geo::SliceGeometry,
                          plane::ImagePlane, order::Linear, ky::Int, limit::Int, conjugate_partners::Bool,
                          row::RowBuffer, pf) where {T}
    acc = s.data
    cell_runs_apply(acc.layout) ||
        return general_backproject_row!(s, src, p, geo, plane, order, ky, limit, conjugate_partners, row, pf)
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
    if pcount == 0   # the loop without partners, kept small
        for t in 1:count
            j = jlo + t - 1
            loc = direct_cell(run, t)
            if loc.k != 0
                scatter_value!(s, loc, pixel_value(src, p + j + 1, loc))
            else
                scatter_edge!(s, src, p + j + 1, geo, run_frequency(plane, j), ky)
            end
        end
    else
        for t in 1:count
            j = jlo + t - 1
            loc = cell_location(run, t, acc, geo, run_frequency(plane, j), ky)
            value = pixel_value(src, p + j + 1, loc)
            scatter_value!(s, loc, value)
            if j >= plo
                scatter_value!(s, cell_location(partners, jhi - j + 1, acc, geo, -j, py), partner_value(value))
            end
        end
    end
    # the only column a run can leave out: the even-w half-image Nyquist column j = w/2
    # (`kept_range`; it has no partner)
    for j in nyquist_columns(plane)
        jlo <= j <= jhi && continue
        kx = column_frequency(plane, j)
        kx * kx + ky * ky <= limit || continue
        g0, g1, g2 = grid_point(geo, kx, ky)
        loc = locate_linear(acc, g0, g1, g2)
        value = pixel_value(src, p + j + 1, loc)
        scatter_value!(s, loc, value)
        if conjugate_partners && has_conjugate_partner(plane, j)
            px, qy = partner_frequency(plane, kx, ky)
            h0, h1, h2 = grid_point(geo, px, qy)
            scatter_value!(s, locate_linear(acc, h0, h1, h2), partner_value(value))
        end
    end
    return nothing
end

"The stored columns outside every row's run that may be kept: j = w/2 for even-w half images, else none."
nyquist_columns(plane::ImagePlane) = (plane.half && iseven(plane.w)) ? (plane.w ÷ 2:plane.w ÷ 2) : (1:0)

general_backproject_row!(s, src, p, geo, plane, order, ky, limit, conjugate_partners, row, pf) =
    invoke(backproject_row!, Tuple{Scatter,Any,Int,SliceGeometry,ImagePlane,Any,Int,Int,Bool,RowBuffer,Any},
           s, src, p, geo, plane, order, ky, limit, conjugate_partners, row, pf)

"""
Images one thread scatters before adding its partial sum into the output (32-bit element
types with more images per thread than this): a float32 running sum over 10⁵ images drifts
by ~10⁻⁴ relative; blocked summation (≤ 1024 terms per block, then one term per block)
keeps the drift at ~10⁻⁶.
"""
const FLUSH_BLOCK = 1024

"Whether running sums of element type `T` need blocking (32-bit precision)."
needs_blocking(::Type{T}) where {T} = real(T) === Float32
needs_blocking(s::Scatter) = needs_blocking(eltype(s.data.data)) ||
                             (s.weights !== nothing && needs_blocking(eltype(s.weights.data)))

"`out .+= part` (one block of a blocked summation)."
function add_block!(out::AbstractVector, part::AbstractVector, entries::AbstractUnitRange{Int}=eachindex(out, part))
    @inbounds @simd for k in entries
        out[k] += part[k]
    end
    return out
end

# a zeroed column view like `view(out, :, b)` (the same type as the outputs' columns)
# (offered huge pages first: a scattered pixel touches four cache lines 2·N² entries
# apart, which with 4 KiB pages are four TLB entries)
function zeroed_column(v::AbstractVector)
    a = advise_huge_pages!(Vector{eltype(v)}(undef, length(v)))
    fill!(a, zero(eltype(v)))
    return view(reshape(a, length(a), 1), :, 1)
end

"Zeroed volumes like those of `s` (dense column views, same layout), without a slab."
zeroed_like(s::Scatter) =
    Scatter(VolumeView(zeroed_column(s.data.data), s.data.layout),
            s.weights === nothing ? nothing : VolumeView(zeroed_column(s.weights.data), s.weights.layout), nothing)

# entries of `s` a thread owns
owned_entries(s::Scatter{A,W,Nothing}) where {A,W} = eachindex(s.data.data)
owned_entries(s::Scatter{A,W,Slab}) where {A,W} = s.slab.entries

"The volumes of `s` as a tuple (data, and the weights of a fused pass)."
volumes(s::Scatter{A,Nothing}) where {A} = (s.data.data,)
volumes(s::Scatter{<:VolumeView,<:VolumeView}) = (s.data.data, s.weights.data)

"`s .+= block` on the entries `s` owns."
add_scatter!(s::Scatter, block::Scatter) = foreach((o, b) -> add_block!(o, b, owned_entries(s)), volumes(s),
                                                   volumes(block))
"Zero the entries of `s` it owns."
function clear_owned!(s::Scatter)
    for v in volumes(s)
        @inbounds @simd for k in owned_entries(s)
            v[k] = zero(eltype(v))
        end
    end
    return s
end

function backproject_image_range!(s::Scatter, src, b::Int, n::Int, rotations::AbstractArray{<:Real,3},
                                  plane::ImagePlane, order, u::Int, max_r2::Float64, conjugate_partners::Bool,
                                  images::UnitRange{Int}, kind::Symbol)
    npix = npixels(plane)
    center = slice_center(order, s.data.layout)
    Tc = promote_type(Float32, eltype(rotations))
    row = row_buffer(order, Tc, plane.width)
    pf = scatter_prefetcher(s, kind)
    src = thread_source(src)
    for i in images
        geo = slice_geometry(rotations, i, u, center)
        backproject_image!(s, src, ((b - 1) * n + (i - 1)) * npix, geo, plane, order, max_r2,
                           conjugate_partners, row, pf)
    end
    return nothing
end

"""
    backproject!(s, slices, b, rotations, plane, order, u, max_r2, conjugate_partners, nacc=1)

`s += Pᵀ slices[:, :, b]` (`slices` flat (npix, n, B); a `FusedPixels` for a fused `Scatter`
`s`; a `VolumeView` is scattered into as `Scatter(s)`), threaded by `accumulate_images!`
over `nacc` accumulators.
"""
function backproject!(s::Scatter, slices, b::Int, rotations::AbstractArray{<:Real,3}, plane::ImagePlane, order,
                      u::Int, max_r2::Float64, conjugate_partners::Bool, nacc::Int=1)
    n = size(rotations, 3)
    kind = prefetch_kind()
    accumulate_images!(s, n, nacc) do acc, images
        backproject_image_range!(acc, slices, b, n, rotations, plane, order, u, max_r2, conjugate_partners, images,
                                 kind)
    end
    return nothing
end
backproject!(acc::VolumeView, args...) = backproject!(Scatter(acc), args...)

"""
    slab_planes(layout, nslabs, radius) -> Vector{UnitRange{Int}}

Axis-0 planes of `nslabs` slabs with about equal expected work: for poses spread over the
sphere, the samples landing in plane i0 grow as `radius − |i0 − n0÷2|` (the density of
central sections falls as 1/|k|), plus one per plane; a half volume's stored plane also
receives the conjugate of its partner plane (same count by symmetry).
"""
function slab_planes(l::VolumeLayout, nslabs::Int, radius::Float64)
    n0 = l.n0
    1 <= nslabs <= n0 || throw(ArgumentError("nslabs must be in 1:$n0, got $nslabs"))
    work = [1.0 + max(radius - abs(i0 - n0 ÷ 2), 0.0) for i0 in 0:n0-1]
    total = sum(work)
    planes = UnitRange{Int}[]
    first_plane = 0
    acc = 0.0
    for i0 in 0:n0-1
        acc += work[i0 + 1]
        remaining = nslabs - length(planes) - 1
        left = n0 - 1 - i0   # planes after i0: at least one per remaining slab
        if remaining > 0 && left >= remaining && (acc >= total * (length(planes) + 1) / nslabs || left == remaining)
            push!(planes, first_plane:i0)
            first_plane = i0 + 1
        end
    end
    push!(planes, first_plane:n0-1)
    return planes
end

"""
    backproject_slabs!(s, src, b, rotations, plane, order, u, max_r2, conjugate_partners, nslabs)

`Pᵀ` of images `b` into the shared accumulator(s) of `s` with `nslabs` threads, thread t
updating only its slab of axis 0 (`slab_planes`) while walking every image and row (it
locates only the pixels that can reach its slab, `touches_slab`). Each entry is updated by
one thread in image and pixel order, so the sums equal one thread's bit for bit (blocked
summation in the same blocks, into one shared block volume).
"""
function backproject_slabs!(s::Scatter, src, b::Int, rotations::AbstractArray{<:Real,3}, plane::ImagePlane, order,
                            u::Int, max_r2::Float64, conjugate_partners::Bool, nslabs::Int)
    n = size(rotations, 3)
    kind = prefetch_kind()
    radius = isfinite(max_r2) ? u * sqrt(max_r2) + 2.0 : Float64(s.data.layout.n0)
    slabs = [Slab(s.data.layout, planes) for planes in slab_planes(s.data.layout, nslabs, radius)]
    blocked = needs_blocking(s) && n > FLUSH_BLOCK
    target = blocked ? zeroed_like(s) : s
    GC.@preserve s target for start in 1:FLUSH_BLOCK:n
        images = blocked ? (start:min(start + FLUSH_BLOCK - 1, n)) : (1:n)
        static_blocks(length(slabs), length(slabs)) do t, _
            mine = with_slab(target, slabs[t])
            blocked && start > 1 && clear_owned!(mine)
            backproject_image_range!(mine, src, b, n, rotations, plane, order, u, max_r2, conjugate_partners,
                                     images, kind)
            blocked && add_scatter!(with_slab(s, slabs[t]), mine)
        end
        blocked || break
    end
    return nothing
end

"""
    fold_full_into_half!(half::VolumeView{T,HalfVolume}, full::AbstractVector)

`half += fold(full)`, the adjoint of `half_volume_to_full_volume` (real inner product):
every full grid point is added with `add_voxel!` (docs/conventions.md §2).
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
    work = n_images * npix * stencil_size(order)
    return max(1, min(Threads.nthreads(), n_images, work ÷ max(volume_length, 1)))
end

"Fewest pixels (images × stored pixels) worth starting slab threads for."
const SLAB_MIN_PIXELS = 1 << 14

"""
    backprojection_mode(n_images, npix, layout, order, threading) -> (mode, nthreads)

How to thread a nearest/linear backprojection: `:copies` (`backprojection_threads`
accumulators, one per thread, added afterwards) or `:slabs` (every thread on the shared
accumulator, `backproject_slabs!`), which `:auto` picks when copies are refused (one
accumulator), there are threads to spare, at least two axis-0 planes per thread and
`SLAB_MIN_PIXELS` pixels. `threading` `:copies` or `:slabs` forces a mode.
"""
function backprojection_mode(n_images::Int, npix::Int, l::VolumeLayout, order, threading::Symbol)
    threading in (:auto, :copies, :slabs) ||
        throw(ArgumentError("threading must be :auto, :copies or :slabs, got :$threading"))
    nacc = backprojection_threads(n_images, npix, stored_length(l), order)
    nslabs = min(Threads.nthreads(), l.n0 ÷ 2)
    threading === :copies && return (:copies, nacc)
    if nslabs > 1 && (threading === :slabs || (nacc == 1 && n_images * npix >= SLAB_MIN_PIXELS))
        return (:slabs, nslabs)
    end
    return (:copies, nacc)
end

"""
    backproject_into!(s, src, b, rotations, plane, order, u, max_r2, conjugate_partners, threading)

Nearest/linear `Pᵀ` of images b of `src` into the (dense column-view) volumes of `s`,
threaded by `backprojection_mode`: with copies, thread 1 scatters straight into `s` and
the others into zeroed copies, added afterwards in thread order.
"""
function backproject_into!(s::Scatter, src, b::Int, rotations::AbstractArray{<:Real,3}, plane::ImagePlane, order,
                           u::Int, max_r2::Float64, conjugate_partners::Bool, threading::Symbol)
    mode, nthreads = backprojection_mode(size(rotations, 3), npixels(plane), s.data.layout, order, threading)
    mode === :slabs &&
        return backproject_slabs!(s, src, b, rotations, plane, order, u, max_r2, conjugate_partners, nthreads)
    backproject!(s, src, b, rotations, plane, order, u, max_r2, conjugate_partners, nthreads)
    return nothing
end

"""
    adjoint_slice_volumes!(out, slices, rotations, plane, order, layout, u, max_r2, conjugate_partners; threading=:auto)

`out[:, b] += Pᵀ slices[:, :, b]` for every batch element b: `out` (stored_length(layout), B),
`slices` flat (npix, n, B). Orders 0/1: `backproject_into!` (`threading` as in
`backprojection_mode`). Cubic: the adjoint of `v ↦ slice(coefficients(v))`
(with a half `layout`, of `h ↦ slice(coefficients(expand(h)))`): scatter into full-volume
accumulators, apply the (self-adjoint) coefficient operator, fold if half, add.
"""
function adjoint_slice_volumes!(out::AbstractMatrix{T}, slices::AbstractVector, rotations::AbstractArray{<:Real,3},
                                plane::ImagePlane, order, layout::VolumeLayout, u::Int, max_r2::Float64,
                                conjugate_partners::Bool; threading::Symbol=:auto) where {T}
    n = size(rotations, 3)
    B = size(out, 2)
    size(out, 1) == stored_length(layout) ||
        throw(DimensionMismatch("output volumes have $(size(out, 1)) entries, layout needs $(stored_length(layout))"))
    length(slices) == npixels(plane) * n * B ||
        throw(DimensionMismatch("slices have $(length(slices)) entries, expected $(npixels(plane) * n * B)"))
    n == 0 && return out
    if samples_coefficients(order)
        full = FullVolume(layout.n0, layout.n1, layout.n2)
        nacc = backprojection_threads(n, npixels(plane), stored_length(full), order)
        scattered = zeros(T, stored_length(full))
        for b in 1:B
            b > 1 && fill_threaded!(scattered, zero(T))
            backproject!(VolumeView(scattered, full), slices, b, rotations, plane, order, u, max_r2,
                         conjugate_partners, nacc)
            spline_coefficients!(reshape(scattered, layout.n2, layout.n1, layout.n0))
            if layout isa HalfVolume
                fold_full_into_half!(VolumeView(view(out, :, b), layout), scattered)
            else
                add_into!(view(out, :, b), scattered)
            end
        end
        return out
    end
    for b in 1:B
        backproject_into!(Scatter(VolumeView(view(out, :, b), layout)), slices, b, rotations, plane, order, u,
                          max_r2, conjugate_partners, threading)
    end
    return out
end

"""
    backproject_pair!(data, weights, slices, multipliers, weight_values, rotations, plane, order, layout,
                      u, max_r2, conjugate_partners; threading=:auto)

The fused pass of a reconstruction: `data += Pᵀ(multipliers .* slices)` and
`weights += Pᵀ weight_values`, every pixel located once (orders 0/1). `data`, `weights`
(stored_length(layout), 1) (complex, real); `slices`, `multipliers`, `weight_values` flat
(npix, n) (complex, real, real). Same sums as the two separate `adjoint_slice_volumes!`
calls, bit for bit.
"""
function backproject_pair!(data::AbstractMatrix, weights::AbstractMatrix{<:Real}, slices::AbstractVector,
                           multipliers::AbstractVector{<:Real}, weight_values::AbstractVector{<:Real},
                           rotations::AbstractArray{<:Real,3}, plane::ImagePlane, order::Union{Nearest,Linear},
                           layout::VolumeLayout, u::Int, max_r2::Float64, conjugate_partners::Bool;
                           threading::Symbol=:auto)
    for (name, values) in (("multipliers", multipliers), ("weight_values", weight_values))
        length(values) == length(slices) ||
            throw(DimensionMismatch("$name have $(length(values)) entries, expected $(length(slices))"))
    end
    backproject_pair!(data, weights, FusedPixels(slices, multipliers, weight_values), rotations, plane, order,
                      layout, u, max_r2, conjugate_partners; threading=threading)
    return nothing
end

# the fused pass on per-pixel inputs `pixels` (a `FusedPixels`, or ctf_pixels.jl's `CTFPixels`)
function backproject_pair!(data::AbstractMatrix, weights::AbstractMatrix{<:Real}, pixels,
                           rotations::AbstractArray{<:Real,3}, plane::ImagePlane, order::Union{Nearest,Linear},
                           layout::VolumeLayout, u::Int, max_r2::Float64, conjugate_partners::Bool;
                           threading::Symbol=:auto)
    n = size(rotations, 3)
    for (name, volume) in (("data", data), ("weights", weights))
        size(volume) == (stored_length(layout), 1) ||
            throw(DimensionMismatch("$name has size $(size(volume)), layout needs ($(stored_length(layout)), 1)"))
    end
    length(pixels) == npixels(plane) * n ||
        throw(DimensionMismatch("slices have $(length(pixels)) entries, expected $(npixels(plane) * n)"))
    n == 0 && return nothing
    s = Scatter(VolumeView(view(data, :, 1), layout), VolumeView(view(weights, :, 1), layout), nothing)
    backproject_into!(s, pixels, 1, rotations, plane, order, u, max_r2, conjugate_partners, threading)
    return nothing
end
