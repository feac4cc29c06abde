# One row of an image at a time: runs of consecutive plane frequencies whose cells are
# located in one vectorised loop (`CellRun`, `locate_cells!`), the run of kept columns
# (`kept_columns`, `row_run`), per-thread row scratch (`RowBuffer`) and the general first
# pass (`locate_row!`). Shared by projection, backprojection and forward.jl.

"""
    CellRun{Tc}(width)

Cells of a run of consecutive plane frequencies kx of one row (`locate_cells!`): flat index
of each cell's corner (0,0,0) (`Int32`; 0 when the cell is not entirely in the grid) and
the fractions. Room for `width` cells rounded up to a multiple of `RUN_LANES`.
"""
struct CellRun{Tc}
    k::Vector{Int32}
    f0::Vector{Tc}
    f1::Vector{Tc}
    f2::Vector{Tc}
end
function CellRun{Tc}(width::Int) where {Tc}
    capacity = RUN_LANES * cld(width, RUN_LANES)
    return CellRun{Tc}(zeros(Int32, capacity), zeros(Tc, capacity), zeros(Tc, capacity), zeros(Tc, capacity))
end

# Runs are located in SIMD loops over a multiple of RUN_LANES entries where the buffers
# allow (`simd_count`; `CellRun`s are allocated that long): a vectorised loop's scalar
# remainder costs about 4 ns per entry (locating 63 cells took 144 ns, 64 cells 91 ns). The
# extra entries are located but never read.
const RUN_LANES = 16
simd_count(count::Int, capacity::Int) = min(RUN_LANES * cld(count, RUN_LANES), capacity)

"Whether `locate_cells!` applies: a full volume whose flat indices fit in Int32."
cell_runs_apply(l::FullVolume) = stored_length(l) < typemax(Int32) - 1
cell_runs_apply(l::VolumeLayout) = false

"Row ky's part of `grid_point`: `(u·ky)·R[1, j]` for j = 0, 1, 2 (same operations)."
@inline function row_offsets(geo::SliceGeometry{Tc}, ky::Int) where {Tc}
    y = Tc(geo.u * ky)
    return (y * geo.r10, y * geo.r11, y * geo.r12)
end

"""
    locate_cells!(run, geo, layout::FullVolume, ky, kx_first, count)

Trilinear cells of the `count` plane frequencies `kx_first, kx_first + 1, …` of row ky:
`run.k[t]` = flat index of corner `floor(g)` when the whole cell is in the grid (else 0),
`run.f*[t]` = `g − floor(g)`, `g` computed with exactly `grid_point`'s operations (so the
results equal `locate_linear`'s). Branch-free, so the loop vectorises.
"""
function locate_cells!(run::CellRun{Tc}, geo::SliceGeometry{Tc}, l::FullVolume, ky::Int, kx_first::Int,
                       count::Int) where {Tc}
    (count <= length(run.k) && count <= length(run.f0) && count <= length(run.f1) && count <= length(run.f2)) ||
        throw(DimensionMismatch("cell run too short"))
    cell_runs_apply(l) || throw(ArgumentError("volume too large for Int32 cell indices"))
    y0, y1, y2 = row_offsets(geo, ky)
    r00, r01, r02 = geo.r00, geo.r01, geo.r02
    c0, c1, c2 = geo.c0, geo.c1, geo.c2
    top0 = Tc(l.n0 - 2)
    top1 = Tc(l.n1 - 2)
    top2 = Tc(l.n2 - 2)
    n1 = Int32(l.n1)
    n2 = Int32(l.n2)
    u = geo.u
    ks, f0s, f1s, f2s = run.k, run.f0, run.f1, run.f2
    @inbounds @simd for t in 1:simd_count(count, min(length(ks), length(f0s), length(f1s), length(f2s)))
        x = Tc(u * (kx_first + t - 1))
        g0 = x * r00 + y0 + c0
        g1 = x * r01 + y1 + c1
        g2 = x * r02 + y2 + c2
        b0 = floor(g0)
        b1 = floor(g1)
        b2 = floor(g2)
        inside = (b0 >= 0) & (b0 <= top0) & (b1 >= 0) & (b1 <= top1) & (b2 >= 0) & (b2 <= top2)
        i0 = unsafe_trunc(Int32, ifelse(inside, b0, zero(Tc)))
        i1 = unsafe_trunc(Int32, ifelse(inside, b1, zero(Tc)))
        i2 = unsafe_trunc(Int32, ifelse(inside, b2, zero(Tc)))
        ks[t] = ifelse(inside, Int32(1) + i2 + n2 * (i1 + n1 * i0), Int32(0))
        f0s[t] = g0 - b0
        f1s[t] = g1 - b1
        f2s[t] = g2 - b2
    end
    return run
end

"""
    cell_location(run, t, vol, geo, kx, ky) -> CellLocation

Location of cell t of a located run (plane frequency (kx, ky)): `DIRECT` from the run, or
`locate_linear` for a cell not entirely in the grid.
"""
@inline function cell_location(run::CellRun{Tc}, t::Int, vol::VolumeView, geo::SliceGeometry{Tc}, kx::Int,
                               ky::Int) where {Tc}
    loc = direct_cell(run, t)
    loc.k != 0 && return loc
    g0, g1, g2 = grid_point(geo, kx, ky)
    return locate_linear(vol, g0, g1, g2)
end

"Cell t of a located run as a DIRECT location (`k == 0`: not entirely in the grid, not located)."
@inline direct_cell(run::CellRun{Tc}, t::Int) where {Tc} =
    @inbounds CellLocation{Tc}(Int(run.k[t]), DIRECT, 0, 0, 0, run.f0[t], run.f1[t], run.f2[t])

"Trilinear value at cell t of a located run (plane frequency (kx, ky)); same as `evaluate` at `cell_location`."
@inline function run_value(run::CellRun{Tc}, t::Int, vol::VolumeView, geo::SliceGeometry{Tc}, kx::Int,
                           ky::Int) where {Tc}
    @inbounds k = Int(run.k[t])
    k != 0 && return @inbounds direct_value(vol, k, run.f0[t], run.f1[t], run.f2[t])
    return edge_value(vol, geo, kx, ky)
end

# a cell not entirely in the grid (rare; kept out of line so the run loop stays small)
@noinline function edge_value(vol::VolumeView, geo::SliceGeometry, kx::Int, ky::Int)
    g0, g1, g2 = grid_point(geo, kx, ky)
    return sample_linear(vol, g0, g1, g2)
end

"Prefetch the in-grid cells `first:last` of a located run."
@inline prefetch_cells(::Prefetcher{:none}, vol::VolumeView, run::CellRun, first::Int, last::Int) = nothing
function prefetch_cells(pf::Prefetcher{:prefetch}, vol::VolumeView, run::CellRun, first::Int, last::Int)
    s1 = stride1(vol.layout)
    s0 = stride0(vol.layout)
    for t in first:last
        @inbounds k = Int(run.k[t])
        if k != 0
            request(pf, k); request(pf, k + s1); request(pf, k + s0); request(pf, k + s0 + s1)
        end
    end
    return nothing
end

"Whether `locate_voxels!` applies: flat indices fit in Int32."
voxel_runs_apply(l::VolumeLayout) = stored_length(l) < typemax(Int32)

# Int32 index constants of a layout for `voxel_index` (computed outside vectorised loops)
index_constants(l::FullVolume) = (n1 = Int32(l.n1), n2 = Int32(l.n2))
index_constants(l::HalfVolume) = (n0 = Int32(l.n0), n1 = Int32(l.n1), n2h = Int32(l.n2h), c2 = Int32(l.c2),
                                  even0 = iseven(l.n0), even1 = iseven(l.n1), even2 = iseven(l.n2))

# `stored_location` of in-grid point (i0, i1, i2) in Int32, negated when read conjugated;
# branch-free
@inline voxel_index(::FullVolume, c, i0::Int32, i1::Int32, i2::Int32) = Int32(1) + i2 + c.n2 * (i1 + c.n1 * i0)

@inline function voxel_index(::HalfVolume, c, i0::Int32, i1::Int32, i2::Int32)
    kz = i2 - c.c2
    direct = (kz >= Int32(0)) | ((i2 == Int32(0)) & c.even2)
    p0 = ifelse(c.even0, ifelse(i0 == Int32(0), Int32(0), c.n0 - i0), c.n0 - Int32(1) - i0)
    p1 = ifelse(c.even1, ifelse(i1 == Int32(0), Int32(0), c.n1 - i1), c.n1 - Int32(1) - i1)
    k = Int32(1) + abs(kz) + c.n2h * (ifelse(direct, i1, p1) + c.n1 * ifelse(direct, i0, p0))
    return ifelse(direct, k, -k)
end

"""
    locate_voxels!(ks, geo, layout, ky, kx_first, count)

Nearest voxels of the `count` plane frequencies `kx_first, kx_first + 1, …` of row ky:
`ks[t]` = the stored index `locate_nearest` finds (`Int32`), negated when it is read
conjugated (half volume, kz < 0), 0 outside the grid. Same grid point (`grid_point`'s
operations) and rounding (half to even) as `locate_nearest`; branch-free, so the loop
vectorises.
"""
function locate_voxels!(ks::Vector{Int32}, geo::SliceGeometry{Tc}, l::VolumeLayout, ky::Int, kx_first::Int,
                        count::Int) where {Tc}
    count <= length(ks) || throw(DimensionMismatch("voxel run too short"))
    voxel_runs_apply(l) || throw(ArgumentError("volume too large for Int32 voxel indices"))
    y0, y1, y2 = row_offsets(geo, ky)
    r00, r01, r02 = geo.r00, geo.r01, geo.r02
    c0, c1, c2 = geo.c0, geo.c1, geo.c2
    z = zero(Tc)
    top0 = Tc(l.n0 - 1)
    top1 = Tc(l.n1 - 1)
    top2 = Tc(l.n2 - 1)
    c = index_constants(l)
    u = geo.u
    @inbounds @simd for t in 1:simd_count(count, length(ks))
        x = Tc(u * (kx_first + t - 1))
        r0 = round(x * r00 + y0 + c0)
        r1 = round(x * r01 + y1 + c1)
        r2 = round(x * r02 + y2 + c2)
        inside = (z <= r0) & (r0 <= top0) & (z <= r1) & (r1 <= top1) & (z <= r2) & (r2 <= top2)
        i0 = unsafe_trunc(Int32, ifelse(inside, r0, z))
        i1 = unsafe_trunc(Int32, ifelse(inside, r1, z))
        i2 = unsafe_trunc(Int32, ifelse(inside, r2, z))
        ks[t] = ifelse(inside, voxel_index(l, c, i0, i1, i2), Int32(0))
    end
    return ks
end

"Value at voxel `k` of a located voxel run (`locate_voxels!`); same as `evaluate` at the `VoxelLocation`."
@inline function voxel_value(vol::VolumeView{T}, k::Int32) where {T}
    k == 0 && return zero(T)
    # k came from voxel_index of an in-grid point of vol's layout
    @inbounds value = vol.data[abs(Int(k))]
    return k > 0 ? value : conj(value)
end

"Prefetch the in-grid voxels `1:count` of a located voxel run."
@inline prefetch_voxels(::Prefetcher{:none}, ks::Vector{Int32}, count::Int) = nothing
function prefetch_voxels(pf::Prefetcher{:prefetch}, ks::Vector{Int32}, count::Int)
    for t in 1:count
        @inbounds k = Int(ks[t])
        k != 0 && request(pf, abs(k))
    end
    return nothing
end

"""
    kept_columns(plane, ky, limit) -> (jlo, jhi)

Stored columns of row ky whose plane frequencies form the run of kept pixels
(`kx² + ky² ≤ limit`), kx = `run_frequency(plane, j)`: full images any columns, half images
columns 0 … (w−1)÷2 (the even-w Nyquist column j = w/2, kx = −w/2, is not part of the run).
Empty when jhi < jlo.
"""
function kept_columns(plane::ImagePlane, ky::Int, limit::Int)
    rest = limit - ky * ky
    rest < 0 && return (1, 0)
    m = floor_sqrt(rest)
    if plane.half
        return (0, min(m, (plane.w - 1) ÷ 2))
    end
    half = plane.w ÷ 2
    return (max(0, half - m), min(plane.w - 1, half + m))
end

"""
    floor_sqrt(x) -> ⌊√x⌋

`isqrt` for 0 ≤ x < 2⁶², inlined: Julia 1.5 calls Base's `isqrt` from this package's
precompiled code through a boxed `jl_invoke` (16 bytes per row of every kernel).
"""
@inline function floor_sqrt(x::Int)
    s = unsafe_trunc(Int, sqrt(Float64(x)))   # within 1 of ⌊√x⌋
    s -= s * s > x
    s += (s + 1) * (s + 1) <= x
    return s
end

"""
    row_run(plane, ky, limit) -> (jlo, jhi, count)

`kept_columns` with its length; an empty run is `(width, width − 1, 0)`, so that the
stored columns outside the run are always `0:jlo−1` and `jhi+1:width−1`.
"""
function row_run(plane::ImagePlane, ky::Int, limit::Int)
    jlo, jhi = kept_columns(plane, ky, limit)
    jhi < jlo && return (plane.width, plane.width - 1, 0)
    return (jlo, jhi, jhi - jlo + 1)
end

"Zero the stored pixels `out[p + j + 1]` of one row outside its run `jlo:jhi` (`row_run`)."
function zero_outside_run!(out::AbstractVector{To}, p::Int, plane::ImagePlane, jlo::Int, jhi::Int) where {To}
    (p >= 0 && p + plane.width <= length(out)) || throw(BoundsError(out, p + plane.width))
    @inbounds for j in 0:min(jlo, plane.width)-1
        out[p + j + 1] = zero(To)
    end
    @inbounds for j in max(jhi + 1, 0):plane.width-1
        out[p + j + 1] = zero(To)
    end
    return nothing
end

"Plane frequency kx of stored column j inside a run (`kept_columns`)."
@inline run_frequency(plane::ImagePlane, j::Int) = plane.half ? j : j - plane.w ÷ 2

"""
    RowBuffer{L,Tc}(width)

Per-thread scratch for one row of pixels: the locations (two per pixel: the pixel and its
conjugate partner) and the stored column of each kept pixel; two cell runs (pixels and
partners) for `locate_cells!`.
"""
struct RowBuffer{L,Tc}
    locs::Matrix{L}
    j::Vector{Int}
    run::CellRun{Tc}
    partners::CellRun{Tc}
end
RowBuffer{L,Tc}(width::Int) where {L,Tc} =
    RowBuffer{L,Tc}(Matrix{L}(undef, 2, width), zeros(Int, width), CellRun{Tc}(width), CellRun{Tc}(width))

"Row scratch for `order` with coordinates of type `Tc`."
row_buffer(order, ::Type{Tc}, width::Int) where {Tc} = RowBuffer{location_type(order, Tc),Tc}(width)

"""
    locate_row!(locs, js, vol, geo, plane, order, ky, limit, partners, pf, out, p, slab=nothing) -> kept

First pass over stored row ky: every pixel with `kx² + ky² ≤ limit` is located in `vol`
(`locs[1, m]`, its stored column in `js[m]`, m = 1…kept) and its cache lines prefetched;
with `partners`, a pixel with a conjugate partner also gets the partner's location in
`locs[2, m]`. Skipped pixels are set to zero in `out[p + j + 1]` unless `out` is `nothing`.
With a `slab` (backprojection threads, `touches_slab`), pixels that cannot reach it (nor
their partners) are skipped too (`out` must then be `nothing`).
"""
function locate_row!(locs::AbstractMatrix, js::AbstractVector{Int}, vol::VolumeView, geo::SliceGeometry,
                     plane::ImagePlane, order, ky::Int, limit::Real, partners::Bool, pf, out,
                     p::Int, slab=nothing)
    (size(locs, 1) >= 2 && size(locs, 2) >= plane.width && length(js) >= plane.width) ||
        throw(DimensionMismatch("row buffers too small"))
    out === nothing || (p >= 0 && p + plane.width <= length(out)) || throw(BoundsError(out, p + plane.width))
    kept = 0
    for j in 0:plane.width-1
        kx = column_frequency(plane, j)
        if kx * kx + ky * ky <= limit
            g0, g1, g2 = grid_point(geo, kx, ky)
            paired = partners && has_conjugate_partner(plane, j)
            if slab !== nothing && !touches_slab(slab, vol.layout, g0, g2)
                paired || continue
                px, py = partner_frequency(plane, kx, ky)
                q0, _, q2 = grid_point(geo, px, py)
                touches_slab(slab, vol.layout, q0, q2) || continue
            end
            loc = locate(order, vol, g0, g1, g2)
            prefetch_location(pf, vol, loc)
            kept += 1
            @inbounds locs[1, kept] = loc
            @inbounds js[kept] = j
            if paired
                px, py = partner_frequency(plane, kx, ky)
                h0, h1, h2 = grid_point(geo, px, py)
                partner = locate(order, vol, h0, h1, h2)
                prefetch_location(pf, vol, partner)
                @inbounds locs[2, kept] = partner
            end
        elseif out !== nothing
            @inbounds out[p + j + 1] = zero(eltype(out))
        end
    end
    return kept
end
