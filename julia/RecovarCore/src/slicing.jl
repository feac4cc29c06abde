# Fourier-slice projection ("slicing") and its adjoint (backprojection), kernels.md §1–4.
#
# Layers, bottom up:
#   * volume layouts (`FullVolume`, `HalfVolume`) and `VolumeView` (data + layout, checked
#     once, so every in-grid access below is in bounds);
#   * voxel access: `read_voxel` (the half layout reads the Hermitian partner for negative
#     kz, i.e. it reads `half_volume_to_full_volume(h)`), `add_voxel!` (its exact adjoint);
#   * per-image geometry: `ImagePlane` (pixel → integer plane frequency) and
#     `SliceGeometry` (plane frequency → fractional grid point);
#   * per-pixel primitives: `sample_nearest`, `sample_linear`, `sample_cubic` and their
#     adjoints `scatter_nearest!`, `scatter_linear!`, `scatter_cubic!`;
#   * the kernels, threaded over images (projection) or with per-thread accumulators
#     (backprojection).
# forward.jl builds the fused forward model on the primitives.
#
# Index conventions: NumPy C order. A grid point (i0, i1, i2) (0-based, i0 slowest) of a
# volume of NumPy shape (N0, N1, N2) is the flat entry 1 + i2 + N2·(i1 + N1·i0) of the
# Julia vector. Images: pixel (r, c) of a NumPy (H, W) image is flat entry 1 + c + W·r.

# ---- volume layouts ----------------------------------------------------------------------

abstract type VolumeLayout end

"""
    FullVolume(n0, n1, n2)

Centered full spectrum of NumPy shape `(n0, n1, n2)`, C order: grid point `(i0, i1, i2)`
(0-based) is flat entry `1 + i2 + n2·(i1 + n1·i0)`; frequency `i_d − n_d ÷ 2`.
"""
struct FullVolume <: VolumeLayout
    n0::Int
    n1::Int
    n2::Int
end

"""
    HalfVolume(n0, n1, n2)

rfft-packed half of a centered spectrum of full NumPy shape `(n0, n1, n2)`, stored as
`(n0, n1, n2 ÷ 2 + 1)` in C order. Packed column `kz` (0 ≤ kz ≤ n2 ÷ 2) holds frequency kz,
except for even n2 where the last column holds the Nyquist frequency −n2/2
(conventions.md §2).
"""
struct HalfVolume <: VolumeLayout
    n0::Int
    n1::Int
    n2::Int
    n2h::Int
    c2::Int
end
HalfVolume(n0::Integer, n1::Integer, n2::Integer) = HalfVolume(n0, n1, n2, n2 ÷ 2 + 1, n2 ÷ 2)

"Number of stored entries of a layout."
stored_length(l::FullVolume) = l.n0 * l.n1 * l.n2
stored_length(l::HalfVolume) = l.n0 * l.n1 * l.n2h

"`(i0, i1, i2)` inside the full grid `[0, n0) × [0, n1) × [0, n2)`."
@inline in_grid(l::VolumeLayout, i0::Int, i1::Int, i2::Int) =
    (unsigned(i0) < unsigned(l.n0)) & (unsigned(i1) < unsigned(l.n1)) & (unsigned(i2) < unsigned(l.n2))

"""
    VolumeView(data::AbstractVector, layout)

A flat volume together with its layout; the constructor checks
`length(data) == stored_length(layout)`, which is what makes the unchecked accesses of
`read_voxel`/`add_voxel!` at in-grid indices safe.
"""
struct VolumeView{T,L<:VolumeLayout,A<:AbstractVector{T}}
    data::A
    layout::L
    function VolumeView(data::A, layout::L) where {T,L<:VolumeLayout,A<:AbstractVector{T}}
        length(data) == stored_length(layout) ||
            throw(DimensionMismatch("volume has $(length(data)) entries, layout $layout needs $(stored_length(layout))"))
        return new{T,L,A}(data, layout)
    end
end

# centered conjugate partner π_m(i) = (m − m mod 2 − i) mod m, for 0 ≤ i < m
@inline conjugate_partner(i::Int, m::Int) = iseven(m) ? (i == 0 ? 0 : m - i) : m - 1 - i

"""
    read_voxel(v::VolumeView, i0, i1, i2)

Value at full-grid point `(i0, i1, i2)`, which must satisfy `in_grid`. For a half volume
this is the entry of `half_volume_to_full_volume(h)`: kz = i2 − n2÷2 (even n2: −n2/2 read
as the stored Nyquist column); kz ≥ 0 reads `h[i0, i1, kz]`, kz < 0 reads
`conj(h[π(i0), π(i1), −kz])`.
"""
@inline function read_voxel(v::VolumeView{T,FullVolume}, i0::Int, i1::Int, i2::Int) where {T}
    l = v.layout
    @inbounds return v.data[1 + i2 + l.n2 * (i1 + l.n1 * i0)]
end

@inline function read_voxel(v::VolumeView{T,HalfVolume}, i0::Int, i1::Int, i2::Int) where {T}
    l = v.layout
    kz = i2 - l.c2
    if kz >= 0 || (i2 == 0 && iseven(l.n2))
        kz = abs(kz)
        @inbounds return v.data[1 + kz + l.n2h * (i1 + l.n1 * i0)]
    else
        p0 = conjugate_partner(i0, l.n0)
        p1 = conjugate_partner(i1, l.n1)
        @inbounds return conj(v.data[1 - kz + l.n2h * (p1 + l.n1 * p0)])
    end
end

"""
    add_voxel!(v::VolumeView, i0, i1, i2, value)

Adjoint of `read_voxel` (real inner product for the half layout): add `value` at the full
grid point `(i0, i1, i2)` (must be `in_grid`); for a half volume with kz < 0 add
`conj(value)` at the stored partner.
"""
@inline function add_voxel!(v::VolumeView{T,FullVolume}, i0::Int, i1::Int, i2::Int, value) where {T}
    l = v.layout
    k = 1 + i2 + l.n2 * (i1 + l.n1 * i0)
    @inbounds v.data[k] += value
    return nothing
end

@inline function add_voxel!(v::VolumeView{T,HalfVolume}, i0::Int, i1::Int, i2::Int, value) where {T}
    l = v.layout
    kz = i2 - l.c2
    if kz >= 0 || (i2 == 0 && iseven(l.n2))
        kz = abs(kz)
        k = 1 + kz + l.n2h * (i1 + l.n1 * i0)
        @inbounds v.data[k] += value
    else
        p0 = conjugate_partner(i0, l.n0)
        p1 = conjugate_partner(i1, l.n1)
        k = 1 - kz + l.n2h * (p1 + l.n1 * p0)
        @inbounds v.data[k] += conj(value)
    end
    return nothing
end

"`read_voxel` if in the grid, else zero."
@inline read_voxel_or_zero(v::VolumeView{T}, i0::Int, i1::Int, i2::Int) where {T} =
    in_grid(v.layout, i0, i1, i2) ? read_voxel(v, i0, i1, i2) : zero(T)

"`add_voxel!` if in the grid, else nothing."
@inline function add_voxel_if_in_grid!(v::VolumeView, i0::Int, i1::Int, i2::Int, value)
    in_grid(v.layout, i0, i1, i2) && add_voxel!(v, i0, i1, i2, value)
    return nothing
end

"""
    stored_location(l::VolumeLayout, i0, i1, i2) -> (k, conjugated)

Flat index `k` of the stored entry that `read_voxel` reads for the in-grid full point
`(i0, i1, i2)`, and whether it is read conjugated (half layout, kz < 0).
"""
@inline stored_location(l::FullVolume, i0::Int, i1::Int, i2::Int) = (1 + i2 + l.n2 * (i1 + l.n1 * i0), false)

@inline function stored_location(l::HalfVolume, i0::Int, i1::Int, i2::Int)
    kz = i2 - l.c2
    if kz >= 0 || (i2 == 0 && iseven(l.n2))
        return (1 + abs(kz) + l.n2h * (i1 + l.n1 * i0), false)
    end
    return (1 - kz + l.n2h * (conjugate_partner(i1, l.n1) + l.n1 * conjugate_partner(i0, l.n0)), true)
end


# ---- image plane and slice geometry ------------------------------------------------------

"""
    ImagePlane(h, w, half)

Pixel enumeration of an `h × w` image (full: `w` stored columns; half: `w ÷ 2 + 1`
rfft-packed columns). Pixel (r, j), 0-based, is flat entry `1 + j + width·r`; its plane
frequency is `(column_frequency(plane, j), row_frequency(plane, r))` (conventions.md §3, §6).
"""
struct ImagePlane
    h::Int
    w::Int
    half::Bool
    width::Int
end
ImagePlane(h::Integer, w::Integer, half::Bool) = ImagePlane(h, w, half, half ? w ÷ 2 + 1 : w)

"Number of stored pixels per image."
npixels(p::ImagePlane) = p.h * p.width

"Row frequency ky of stored row `r` (0-based): `r − h ÷ 2`."
@inline row_frequency(p::ImagePlane, r::Int) = r - p.h ÷ 2

"""
Column frequency kx of stored column `j` (0-based): full `j − w ÷ 2`; half `j`, except the
even-w Nyquist column `j = w/2`, which is `−w/2`.
"""
@inline function column_frequency(p::ImagePlane, j::Int)
    p.half || return j - p.w ÷ 2
    return (iseven(p.w) && 2j == p.w) ? -j : j
end

"""
Whether packed column `j` of a half image stands for two full-image columns (its own and
the conjugate at −kx): every column except j = 0 and the even-w Nyquist column.
"""
@inline has_conjugate_partner(p::ImagePlane, j::Int) = p.half && j != 0 && 2j != p.w

"""
Plane frequency of the full-image pixel that `half_image_to_full_image` fills with the
conjugate of packed pixel (kx, ky): `(−kx, −ky)`, except the even-h row ky = −h/2, whose
partner is `(−kx, −h/2)`.
"""
@inline partner_frequency(p::ImagePlane, kx::Int, ky::Int) =
    (-kx, (iseven(p.h) && 2ky == -p.h) ? ky : -ky)

"""
    SliceGeometry{T}

Where one image's plane lies in the volume grid: plane frequency (kx, ky) goes to the
fractional grid index `g = (u·kx, u·ky, 0) @ R + center` (row-vector product, R the NumPy
3×3 rotation; `u` the volume upsampling factor), see `grid_point`.
"""
struct SliceGeometry{T<:AbstractFloat}
    r00::T
    r01::T
    r02::T
    r10::T
    r11::T
    r12::T
    c0::T
    c1::T
    c2::T
    u::Int
end

"""
    slice_geometry(rotations, i, u, center) -> SliceGeometry{T}

Geometry of image `i` for `rotations` as Julia sees a NumPy (n, 3, 3) array, i.e.
`rotations[b, a, i] = R_i[a−1, b−1]`. `center` = (c0, c1, c2) grid indices of frequency 0;
`T = promote_type(Float32, eltype(rotations))` (recovar's float32 frequency grid).
"""
function slice_geometry(rotations::AbstractArray{<:Real,3}, i::Int, u::Int, center::NTuple{3,Int})
    T = promote_type(Float32, eltype(rotations))
    @inbounds SliceGeometry{T}(rotations[1, 1, i], rotations[2, 1, i], rotations[3, 1, i],
                               rotations[1, 2, i], rotations[2, 2, i], rotations[3, 2, i],
                               center[1], center[2], center[3], u)
end

"""
    grid_point(geo::SliceGeometry, kx, ky) -> (g0, g1, g2)

Fractional grid index of plane frequency `(kx, ky)`: `g_j = (u·kx)·R[0,j] + (u·ky)·R[1,j] + c_j`.
"""
@inline function grid_point(geo::SliceGeometry{T}, kx::Int, ky::Int) where {T}
    x = T(geo.u * kx)
    y = T(geo.u * ky)
    return (x * geo.r00 + y * geo.r10 + geo.c0,
            x * geo.r01 + y * geo.r11 + geo.c1,
            x * geo.r02 + y * geo.r12 + geo.c2)
end

"Volume center used by the nearest/linear slicers: `n_d ÷ 2` on each axis."
volume_center(l::VolumeLayout) = (l.n0 ÷ 2, l.n1 ÷ 2, l.n2 ÷ 2)

"Volume center used by the cubic slicer (recovar's geometry): `n0 ÷ 2` on every axis."
cubic_center(l::VolumeLayout) = (l.n0 ÷ 2, l.n0 ÷ 2, l.n0 ÷ 2)

# floor as an Int, for coordinates already known to lie in a small range
@inline floor_int(x::AbstractFloat) = unsafe_trunc(Int, floor(x))

# ---- located access ----------------------------------------------------------------------
#
# Each interpolation is split in two: `locate` turns a grid point into a location (which
# stored entries, how they are read, the interpolation fractions), `evaluate`/`scatter_at!`
# read or update the volume there. Kernels locate a whole row of pixels first (prefetching
# the cache lines) and evaluate afterwards; `sample_*`/`scatter_*!` are the composition.

"Block kinds of a location: outside the grid, stored directly, stored conjugated (half volume, kz < 0), anything else."
const OUTSIDE = 0
const DIRECT = 1
const CONJUGATED = 2
const GENERAL = 3

"Stride of axis 1 (the stored last-axis length) and of axis 0 in the flat storage."
@inline stride1(l::FullVolume) = l.n2
@inline stride1(l::HalfVolume) = l.n2h
@inline stride0(l::VolumeLayout) = l.n1 * stride1(l)

"""
    VoxelLocation(k, kind)

Where the nearest-neighbour sample lies: stored entry `k`, `kind` `OUTSIDE`, `DIRECT` or
`CONJUGATED`.
"""
struct VoxelLocation
    k::Int
    kind::Int
end

"""
    CellLocation{T}

The 2×2×2 cell of a linear interpolation: `kind` `OUTSIDE`, `DIRECT` (corner (0,0,0) is
stored entry `k`, the others at `k + a2 + a1·stride1 + a0·stride0`), `CONJUGATED` (half
volume, all corners at negative kz: corner a is the conjugate of entry
`k − a2 − a1·stride1 − a0·stride0`) or `GENERAL` (corner (0,0,0) is the full grid point
`(i0, i1, i2)`, each corner checked and read on its own). `f0, f1, f2`: the fractions.
"""
struct CellLocation{T}
    k::Int
    kind::Int
    i0::Int
    i1::Int
    i2::Int
    f0::T
    f1::T
    f2::T
end

"""
    CubicLocation{T}

A cubic stencil: the grid point itself (the stencil is recomputed when evaluating; its
64 reads dominate the cost).
"""
struct CubicLocation{T}
    g0::T
    g1::T
    g2::T
end

# ---- nearest -----------------------------------------------------------------------------

"""
    locate_nearest(v::VolumeView, g0, g1, g2) -> VoxelLocation

The grid point nearest to `g` (each coordinate rounded half to even, as recovar's CPU
path): its stored entry, or `OUTSIDE` if it is not in the grid.
"""
@inline function locate_nearest(v::VolumeView, g0::Tc, g1::Tc, g2::Tc) where {Tc<:AbstractFloat}
    l = v.layout
    r0 = round(g0)
    r1 = round(g1)
    r2 = round(g2)
    # compare as floats (of the coordinate type) first: huge coordinates never reach the
    # Int conversion
    z = zero(Tc)
    ((z <= r0) & (r0 <= Tc(l.n0 - 1)) & (z <= r1) & (r1 <= Tc(l.n1 - 1)) & (z <= r2) & (r2 <= Tc(l.n2 - 1))) ||
        return VoxelLocation(0, OUTSIDE)
    k, conjugated = stored_location(l, unsafe_trunc(Int, r0), unsafe_trunc(Int, r1), unsafe_trunc(Int, r2))
    return VoxelLocation(k, conjugated ? CONJUGATED : DIRECT)
end

"Value of `v` at a nearest-neighbour location (zero outside)."
@inline function evaluate(v::VolumeView{T}, loc::VoxelLocation) where {T}
    loc.kind == OUTSIDE && return zero(T)
    # k came from stored_location of an in-grid point of v's layout, and v's length matches it
    @inbounds value = v.data[loc.k]
    return loc.kind == CONJUGATED ? conj(value) : value
end

"Adjoint of `evaluate` at a nearest-neighbour location."
@inline function scatter_at!(acc::VolumeView, loc::VoxelLocation, value)
    loc.kind == OUTSIDE && return nothing
    @inbounds acc.data[loc.k] += loc.kind == CONJUGATED ? conj(value) : value
    return nothing
end

"""
    sample_nearest(v::VolumeView, g0, g1, g2)

Value at the grid point nearest to `(g0, g1, g2)` (rounded half to even); zero if that
point is outside the grid. Element type: that of the volume.
"""
@inline sample_nearest(v::VolumeView, g0::Tc, g1::Tc, g2::Tc) where {Tc<:AbstractFloat} =
    evaluate(v, locate_nearest(v, g0, g1, g2))

"""
    scatter_nearest!(acc::VolumeView, g0, g1, g2, value)

Adjoint of `sample_nearest`: add `value` at the nearest grid point if it is in the grid
(a half volume receives `conj(value)` at the stored partner for kz < 0).
"""
@inline scatter_nearest!(acc::VolumeView, g0::Tc, g1::Tc, g2::Tc, value) where {Tc<:AbstractFloat} =
    scatter_at!(acc, locate_nearest(acc, g0, g1, g2), value)

const Float32x4 = NTuple{4,VecElement{Float32}}
const Float32x2 = NTuple{2,VecElement{Float32}}

"Dense complex float32 storage, read through pointers by the vectorised trilinear path."
const DenseComplexF32 = Union{Vector{ComplexF32},
                              SubArray{ComplexF32,1,<:DenseArray,<:Tuple{Base.Slice,Vararg{Int}},true}}

"Entries k and k + 1 of `d` as four floats (re, im, re, im); unaligned load."
@inline load_pair(d::DenseComplexF32, k::Int) = unsafe_load(Ptr{Float32x4}(pointer(d, k)))

"""
    trilinear_pairs(q00, q01, q10, q11, fx, fy, fz) -> ComplexF32

Trilinear value from the pairs `qab = (d_ab0, d_ab1)` (complex entries, axis-2 neighbours):
the lerps along axis 2, then 1, then 0 of `trilinear`, two complex lerps per vector
operation. Plain IR on vector values (no pointers), valid for every LLVM Julia ships.
"""
@inline function trilinear_pairs(q00::Float32x4, q01::Float32x4, q10::Float32x4, q11::Float32x4,
                                 fx::Float32, fy::Float32, fz::Float32)
    r = Base.llvmcall("""
        %z1 = insertelement <4 x float> undef, float %6, i32 0
        %z = shufflevector <4 x float> %z1, <4 x float> undef, <4 x i32> zeroinitializer
        %y1 = insertelement <4 x float> undef, float %5, i32 0
        %y = shufflevector <4 x float> %y1, <4 x float> undef, <4 x i32> zeroinitializer
        %x1 = insertelement <2 x float> undef, float %4, i32 0
        %x = shufflevector <2 x float> %x1, <2 x float> undef, <2 x i32> zeroinitializer
        %alo = shufflevector <4 x float> %0, <4 x float> %1, <4 x i32> <i32 0, i32 1, i32 4, i32 5>
        %ahi = shufflevector <4 x float> %0, <4 x float> %1, <4 x i32> <i32 2, i32 3, i32 6, i32 7>
        %ad = fsub <4 x float> %ahi, %alo
        %am = fmul <4 x float> %ad, %z
        %a = fadd <4 x float> %alo, %am
        %blo = shufflevector <4 x float> %2, <4 x float> %3, <4 x i32> <i32 0, i32 1, i32 4, i32 5>
        %bhi = shufflevector <4 x float> %2, <4 x float> %3, <4 x i32> <i32 2, i32 3, i32 6, i32 7>
        %bd = fsub <4 x float> %bhi, %blo
        %bm = fmul <4 x float> %bd, %z
        %b = fadd <4 x float> %blo, %bm
        %clo = shufflevector <4 x float> %a, <4 x float> %b, <4 x i32> <i32 0, i32 1, i32 4, i32 5>
        %chi = shufflevector <4 x float> %a, <4 x float> %b, <4 x i32> <i32 2, i32 3, i32 6, i32 7>
        %cd = fsub <4 x float> %chi, %clo
        %cm = fmul <4 x float> %cd, %y
        %c = fadd <4 x float> %clo, %cm
        %dlo = shufflevector <4 x float> %c, <4 x float> undef, <2 x i32> <i32 0, i32 1>
        %dhi = shufflevector <4 x float> %c, <4 x float> undef, <2 x i32> <i32 2, i32 3>
        %dd = fsub <2 x float> %dhi, %dlo
        %dm = fmul <2 x float> %dd, %x
        %r = fadd <2 x float> %dlo, %dm
        ret <2 x float> %r
        """, Float32x2, Tuple{Float32x4,Float32x4,Float32x4,Float32x4,Float32,Float32,Float32},
        q00, q01, q10, q11, fx, fy, fz)
    return ComplexF32(r[1].value, r[2].value)
end

# ---- linear ------------------------------------------------------------------------------

# The 2×2×2 cell with corner b = floor(g): -1 (entirely outside), 0 (partly outside),
# 1 (all eight corners inside).
# (Comparisons in the coordinate type: Julia's exact Float-vs-Int comparisons are slow.)
@inline function cell_status(l::VolumeLayout, b0::Tc, b1::Tc, b2::Tc) where {Tc}
    lo = -one(Tc)
    ((lo <= b0) & (b0 <= Tc(l.n0 - 1)) & (lo <= b1) & (b1 <= Tc(l.n1 - 1)) & (lo <= b2) & (b2 <= Tc(l.n2 - 1))) ||
        return -1
    z = zero(Tc)
    ((z <= b0) & (b0 <= Tc(l.n0 - 2)) & (z <= b1) & (b1 <= Tc(l.n1 - 2)) & (z <= b2) & (b2 <= Tc(l.n2 - 2))) &&
        return 1
    return 0
end

# kind and first stored entry of an all-inside cell with corner (i0, i1, i2)
@inline block_location(l::FullVolume, i0::Int, i1::Int, i2::Int) = (DIRECT, 1 + i2 + l.n2 * (i1 + l.n1 * i0))

@inline function block_location(l::HalfVolume, i0::Int, i1::Int, i2::Int)
    kz = i2 - l.c2
    if kz >= 0
        # both z-neighbours stored directly (i2 + 1 ≤ n2 − 1 keeps kz + 1 ≤ n2h − 1)
        return (DIRECT, 1 + kz + l.n2h * (i1 + l.n1 * i0))
    elseif kz <= -2 && i0 >= 1 && i1 >= 1 && (i2 >= 1 || isodd(l.n2))
        # both z-neighbours at negative kz, and the partners of i0, i0 + 1 (i1, i1 + 1) are
        # p, p − 1: one stored 2×2×2 block, read backwards and conjugated
        p0 = conjugate_partner(i0, l.n0)
        p1 = conjugate_partner(i1, l.n1)
        return (CONJUGATED, 1 - kz + l.n2h * (p1 + l.n1 * p0))
    end
    return (GENERAL, 0)
end

"""
    locate_linear(v::VolumeView, g0, g1, g2) -> CellLocation

The trilinear cell of grid point `g`: corner `b = floor(g)`, fractions `f = g − b`.
"""
@inline function locate_linear(v::VolumeView, g0::Tc, g1::Tc, g2::Tc) where {Tc<:AbstractFloat}
    l = v.layout
    b0 = floor(g0)
    b1 = floor(g1)
    b2 = floor(g2)
    f0 = g0 - b0
    f1 = g1 - b1
    f2 = g2 - b2
    status = cell_status(l, b0, b1, b2)
    status < 0 && return CellLocation{Tc}(0, OUTSIDE, 0, 0, 0, f0, f1, f2)
    i0 = unsafe_trunc(Int, b0)
    i1 = unsafe_trunc(Int, b1)
    i2 = unsafe_trunc(Int, b2)
    kind, k = status > 0 ? block_location(l, i0, i1, i2) : (GENERAL, 0)
    return CellLocation{Tc}(k, kind, i0, i1, i2, f0, f1, f2)
end

# the eight corner values (d000, d001, d010, d011, d100, d101, d110, d111),
# dabc = V[b + (a, b, c)]
@inline function cell_values(v::VolumeView{T}, loc::CellLocation) where {T}
    d = v.data
    k = loc.k
    s1 = stride1(v.layout)
    s0 = stride0(v.layout)
    if loc.kind == DIRECT
        # DIRECT cells come from block_location of an all-inside cell: every index is stored
        @inbounds return (d[k], d[k+1], d[k+s1], d[k+s1+1], d[k+s0], d[k+s0+1], d[k+s0+s1], d[k+s0+s1+1])
    elseif loc.kind == CONJUGATED
        @inbounds return (conj(d[k]), conj(d[k-1]), conj(d[k-s1]), conj(d[k-s1-1]),
                          conj(d[k-s0]), conj(d[k-s0-1]), conj(d[k-s0-s1]), conj(d[k-s0-s1-1]))
    elseif loc.kind == GENERAL
        i0, i1, i2 = loc.i0, loc.i1, loc.i2
        return (read_voxel_or_zero(v, i0, i1, i2), read_voxel_or_zero(v, i0, i1, i2 + 1),
                read_voxel_or_zero(v, i0, i1 + 1, i2), read_voxel_or_zero(v, i0, i1 + 1, i2 + 1),
                read_voxel_or_zero(v, i0 + 1, i1, i2), read_voxel_or_zero(v, i0 + 1, i1, i2 + 1),
                read_voxel_or_zero(v, i0 + 1, i1 + 1, i2), read_voxel_or_zero(v, i0 + 1, i1 + 1, i2 + 1))
    end
    z = zero(T)
    return (z, z, z, z, z, z, z, z)
end

"Trilinear value of `v` at a cell location (cascaded lerps along axis 2, 1, 0, as recovar)."
@inline function evaluate(v::VolumeView, loc::CellLocation)
    loc.kind == DIRECT && return direct_value(v, loc.k, loc.f0, loc.f1, loc.f2)
    loc.kind == CONJUGATED && return conjugated_value(v, loc)
    return trilinear(v, loc)
end

"""
    direct_value(v, k, f0, f1, f2)

Trilinear value in the cell whose corner (0,0,0) is stored entry `k` with every corner
stored directly (a `DIRECT` location), fractions `f`.
"""
@inline direct_value(v::VolumeView, k::Int, f0::Tc, f1::Tc, f2::Tc) where {Tc} =
    trilinear(v, CellLocation{Tc}(k, DIRECT, 0, 0, 0, f0, f1, f2))

# complex float32 in dense storage: the cell is read as four pairs of axis-2 neighbours and
# interpolated four lanes at a time, with the same operations (so the same results) as
# `trilinear`
@inline function direct_value(v::VolumeView{ComplexF32,L,<:DenseComplexF32}, k::Int, f0::Float32, f1::Float32,
                              f2::Float32) where {L}
    d = v.data
    s1 = stride1(v.layout)
    s0 = stride0(v.layout)
    # a DIRECT cell: every corner k … k + s0 + s1 + 1 is stored
    GC.@preserve d begin
        q00 = load_pair(d, k)
        q01 = load_pair(d, k + s1)
        q10 = load_pair(d, k + s0)
        q11 = load_pair(d, k + s0 + s1)
    end
    return trilinear_pairs(q00, q01, q10, q11, f0, f1, f2)
end

"Trilinear value in a `CONJUGATED` cell (half volume, every corner at negative kz)."
@inline conjugated_value(v::VolumeView, loc::CellLocation) = trilinear(v, loc)

# complex float32 in dense storage: corner pair (a, b, 0:1) is the conjugate of entries
# (k', k' − 1) read backwards, i.e. of one pair load at k' − 1 with its halves swapped
@inline function conjugated_value(v::VolumeView{ComplexF32,L,<:DenseComplexF32}, loc::CellLocation{Float32}) where {L}
    d = v.data
    k = loc.k
    s1 = stride1(v.layout)
    s0 = stride0(v.layout)
    # a CONJUGATED cell: every entry k − s0 − s1 − 1 … k is stored
    GC.@preserve d begin
        q00 = swap_conj(load_pair(d, k - 1))
        q01 = swap_conj(load_pair(d, k - s1 - 1))
        q10 = swap_conj(load_pair(d, k - s0 - 1))
        q11 = swap_conj(load_pair(d, k - s0 - s1 - 1))
    end
    return trilinear_pairs(q00, q01, q10, q11, loc.f0, loc.f1, loc.f2)
end

"(a, b) → (conj(b), conj(a)) for a pair of complex float32 held as four floats."
@inline swap_conj(q::Float32x4) = Base.llvmcall("""
    %n = fsub <4 x float> <float -0.0, float -0.0, float -0.0, float -0.0>, %0
    %r = shufflevector <4 x float> %0, <4 x float> %n, <4 x i32> <i32 2, i32 7, i32 0, i32 5>
    ret <4 x float> %r
    """, Float32x4, Tuple{Float32x4}, q)

"Scalar trilinear interpolation at a cell location (every kind)."
@inline function trilinear(v::VolumeView{T}, loc::CellLocation{Tc}) where {T,Tc}
    To = promote_type(T, Tc)
    loc.kind == OUTSIDE && return zero(To)
    d000, d001, d010, d011, d100, d101, d110, d111 = cell_values(v, loc)
    fx = loc.f0
    fy = loc.f1
    fz = loc.f2
    dx00 = d000 + (d001 - d000) * fz
    dx01 = d100 + (d101 - d100) * fz
    dx10 = d010 + (d011 - d010) * fz
    dx11 = d110 + (d111 - d110) * fz
    dxy0 = dx00 + (dx10 - dx00) * fy
    dxy1 = dx01 + (dx11 - dx01) * fy
    return convert(To, dxy0 + (dxy1 - dxy0) * fx)
end

"""
    cell_weights(loc) -> (w00, w01, w10, w11, mz, fz)

Trilinear weights of a cell location: `w_ab` for the corners (a, b, ·) over axes 0 and 1
(`(1 − f0 or f0)·(1 − f1 or f1)`), and `1 − f2`, `f2` along axis 2; corner (a, b, c) has
weight `w_ab·(c ? fz : mz)`.
"""
@inline function cell_weights(loc::CellLocation)
    fx = loc.f0
    fy = loc.f1
    fz = loc.f2
    mx = 1 - fx
    my = 1 - fy
    return (mx * my, mx * fy, fx * my, fx * fy, 1 - fz, fz)
end

"Adjoint of `evaluate` at a cell location: `w_a·value` into every in-grid corner a."
@inline scatter_at!(acc::VolumeView, loc::CellLocation, value) = scatter_cell!(acc, loc, value)

# complex float32 into dense storage, a cell stored directly: the eight weighted values are
# added as four pairs of axis-2 neighbours (one load, one add, one store per pair), with the
# same operations (so the same results) as `scatter_cell!`
@inline function scatter_at!(acc::VolumeView{ComplexF32,L,<:DenseComplexF32}, loc::CellLocation{Float32},
                             value::ComplexF32) where {L}
    loc.kind == DIRECT || return scatter_cell!(acc, loc, value)
    w00, w01, w10, w11, mz, fz = cell_weights(loc)
    d = acc.data
    k = loc.k
    s1 = stride1(acc.layout)
    s0 = stride0(acc.layout)
    # a DIRECT cell: every corner k … k + s0 + s1 + 1 is stored
    GC.@preserve d begin
        add_pair!(d, k, w00 * mz, w00 * fz, value)
        add_pair!(d, k + s1, w01 * mz, w01 * fz, value)
        add_pair!(d, k + s0, w10 * mz, w10 * fz, value)
        add_pair!(d, k + s0 + s1, w11 * mz, w11 * fz, value)
    end
    return nothing
end

"`d[k] += wa·value`, `d[k + 1] += wb·value` as one four-float load, multiply-add and store."
@inline function add_pair!(d::DenseComplexF32, k::Int, wa::Float32, wb::Float32, value::ComplexF32)
    p = Ptr{Float32x4}(pointer(d, k))
    unsafe_store!(p, weighted_add(unsafe_load(p), wa, wb, real(value), imag(value)))
    return nothing
end

"q + (wa·re, wa·im, wb·re, wb·im), products rounded before the sum."
@inline weighted_add(q::Float32x4, wa::Float32, wb::Float32, re::Float32, im::Float32) = Base.llvmcall("""
    %w1 = insertelement <4 x float> undef, float %1, i32 0
    %w2 = insertelement <4 x float> %w1, float %1, i32 1
    %w3 = insertelement <4 x float> %w2, float %2, i32 2
    %w = insertelement <4 x float> %w3, float %2, i32 3
    %v1 = insertelement <4 x float> undef, float %3, i32 0
    %v2 = insertelement <4 x float> %v1, float %4, i32 1
    %v = shufflevector <4 x float> %v2, <4 x float> undef, <4 x i32> <i32 0, i32 1, i32 0, i32 1>
    %e = fmul <4 x float> %w, %v
    %r = fadd <4 x float> %0, %e
    ret <4 x float> %r
    """, Float32x4, Tuple{Float32x4,Float32,Float32,Float32,Float32}, q, wa, wb, re, im)

"Scalar adjoint of `trilinear` at a cell location (every kind)."
@inline function scatter_cell!(acc::VolumeView{T}, loc::CellLocation, value) where {T}
    loc.kind == OUTSIDE && return nothing
    w00, w01, w10, w11, mz, fz = cell_weights(loc)
    e000 = convert(T, (w00 * mz) * value)
    e001 = convert(T, (w00 * fz) * value)
    e010 = convert(T, (w01 * mz) * value)
    e011 = convert(T, (w01 * fz) * value)
    e100 = convert(T, (w10 * mz) * value)
    e101 = convert(T, (w10 * fz) * value)
    e110 = convert(T, (w11 * mz) * value)
    e111 = convert(T, (w11 * fz) * value)
    d = acc.data
    k = loc.k
    s1 = stride1(acc.layout)
    s0 = stride0(acc.layout)
    if loc.kind == DIRECT
        @inbounds begin
            d[k] += e000; d[k+1] += e001; d[k+s1] += e010; d[k+s1+1] += e011
            d[k+s0] += e100; d[k+s0+1] += e101; d[k+s0+s1] += e110; d[k+s0+s1+1] += e111
        end
    elseif loc.kind == CONJUGATED
        @inbounds begin
            d[k] += conj(e000); d[k-1] += conj(e001); d[k-s1] += conj(e010); d[k-s1-1] += conj(e011)
            d[k-s0] += conj(e100); d[k-s0-1] += conj(e101); d[k-s0-s1] += conj(e110); d[k-s0-s1-1] += conj(e111)
        end
    else
        i0, i1, i2 = loc.i0, loc.i1, loc.i2
        add_voxel_if_in_grid!(acc, i0, i1, i2, e000); add_voxel_if_in_grid!(acc, i0, i1, i2 + 1, e001)
        add_voxel_if_in_grid!(acc, i0, i1 + 1, i2, e010); add_voxel_if_in_grid!(acc, i0, i1 + 1, i2 + 1, e011)
        add_voxel_if_in_grid!(acc, i0 + 1, i1, i2, e100); add_voxel_if_in_grid!(acc, i0 + 1, i1, i2 + 1, e101)
        add_voxel_if_in_grid!(acc, i0 + 1, i1 + 1, i2, e110); add_voxel_if_in_grid!(acc, i0 + 1, i1 + 1, i2 + 1, e111)
    end
    return nothing
end

"""
    sample_linear(v::VolumeView, g0, g1, g2)

Trilinear interpolation at the fractional grid index `(g0, g1, g2)`: with `b = floor(g)`,
`f = g − b`, `Σ_{a∈{0,1}³} Π_d (a_d ? f_d : 1 − f_d)·V[b + a]`, evaluated as cascaded lerps
along axis 2, then 1, then 0 (as recovar). Corners outside the grid read zero. Element type
`promote_type(eltype(v), typeof(g0))`.
"""
@inline sample_linear(v::VolumeView, g0::Tc, g1::Tc, g2::Tc) where {Tc<:AbstractFloat} =
    evaluate(v, locate_linear(v, g0, g1, g2))

"""
    scatter_linear!(acc::VolumeView, g0, g1, g2, value)

Adjoint of `sample_linear`: add `w_a·value` at every in-grid corner `b + a` of the cell,
`w_a = Π_d (a_d ? f_d : 1 − f_d)` (for a half volume, corners with negative kz receive
`conj(w_a·value)` at the stored partner).
"""
@inline scatter_linear!(acc::VolumeView, g0::Tc, g1::Tc, g2::Tc, value) where {Tc<:AbstractFloat} =
    scatter_at!(acc, locate_linear(acc, g0, g1, g2), value)

# ---- cubic -------------------------------------------------------------------------------

# base index floor(g) − 1 of the 4-point stencil, wrapped into [0, n), and whether the
# whole stencil lies inside [0, n) without wrapping
@inline function cubic_base(g::AbstractFloat, n::Int)
    b = floor(g)
    # wrap in floating point first so that any finite coordinate gives a valid index
    if !(abs(b) < 2.0^40)
        b = zero(b)
    end
    i = unsafe_trunc(Int, b) - 1
    inside = (0 <= i) & (i + 3 < n)
    return inside ? i : mod(i, n), inside   # (the division only near the edges)
end

# (j + a) mod n for 0 ≤ j < n and 0 ≤ a ≤ 3, without a division
@inline function wrap_next(j::Int, a::Int, n::Int)
    i = j + a
    while i >= n
        i -= n
    end
    return i
end

"""
    sample_cubic(v::VolumeView, g0, g1, g2)

Periodic cubic B-spline with coefficients `v` at the fractional grid index `g`:
`Σ_j V[j mod N]·Π_d β(g_d − j_d)` over `j_d = floor(g_d) − 1 … floor(g_d) + 2` (kernels.md §3;
recovar's `map_coordinates_with_cubic_spline(V, g, mode="wrap")`). A half volume is read as
its Hermitian expansion. Element type `promote_type(eltype(v), typeof(g0))`.
"""
@inline function sample_cubic(v::VolumeView{T}, g0::Tc, g1::Tc, g2::Tc) where {T,Tc<:AbstractFloat}
    To = promote_type(T, Tc)
    l = v.layout
    w0 = cubic_weights(g0 - floor(g0))
    w1 = cubic_weights(g1 - floor(g1))
    w2 = cubic_weights(g2 - floor(g2))
    j0, in0 = cubic_base(g0, l.n0)
    j1, in1 = cubic_base(g1, l.n1)
    j2, in2 = cubic_base(g2, l.n2)
    acc = zero(To)
    if in0 & in1 & in2 && v.layout isa FullVolume
        s1 = l.n2
        s0 = l.n1 * l.n2
        d = v.data
        for a0 in 1:4
            plane = zero(To)
            for a1 in 1:4
                k = 1 + j2 + s1 * (j1 + a1 - 1) + s0 * (j0 + a0 - 1)
                @inbounds line = w2[1] * d[k] + w2[2] * d[k+1] + w2[3] * d[k+2] + w2[4] * d[k+3]
                plane += w1[a1] * line
            end
            acc += w0[a0] * plane
        end
        return acc
    end
    for a0 in 1:4
        i0 = wrap_next(j0, a0 - 1, l.n0)
        plane = zero(To)
        for a1 in 1:4
            i1 = wrap_next(j1, a1 - 1, l.n1)
            line = zero(To)
            for a2 in 1:4
                line += w2[a2] * read_voxel(v, i0, i1, wrap_next(j2, a2 - 1, l.n2))
            end
            plane += w1[a1] * line
        end
        acc += w0[a0] * plane
    end
    return acc
end

"""
    scatter_cubic!(acc::VolumeView, g0, g1, g2, value)

Adjoint of `sample_cubic`: add `Π_d β(g_d − j_d)·value` at every stencil point `j mod N`.
"""
@inline function scatter_cubic!(acc::VolumeView{T}, g0::Tc, g1::Tc, g2::Tc, value) where {T,Tc<:AbstractFloat}
    l = acc.layout
    w0 = cubic_weights(g0 - floor(g0))
    w1 = cubic_weights(g1 - floor(g1))
    w2 = cubic_weights(g2 - floor(g2))
    j0, _ = cubic_base(g0, l.n0)
    j1, _ = cubic_base(g1, l.n1)
    j2, _ = cubic_base(g2, l.n2)
    for a0 in 1:4
        i0 = wrap_next(j0, a0 - 1, l.n0)
        v0 = w0[a0] * value
        for a1 in 1:4
            i1 = wrap_next(j1, a1 - 1, l.n1)
            v01 = w1[a1] * v0
            for a2 in 1:4
                add_voxel!(acc, i0, i1, wrap_next(j2, a2 - 1, l.n2), convert(T, w2[a2] * v01))
            end
        end
    end
    return nothing
end

"Cubic spline value at a cubic location (`sample_cubic`)."
@inline evaluate(v::VolumeView, loc::CubicLocation) = sample_cubic(v, loc.g0, loc.g1, loc.g2)
"Adjoint of `evaluate` at a cubic location (`scatter_cubic!`)."
@inline scatter_at!(acc::VolumeView, loc::CubicLocation, value) = scatter_cubic!(acc, loc.g0, loc.g1, loc.g2, value)

# ---- orders ------------------------------------------------------------------------------

"""
    Nearest(), Linear(), Cubic()

Interpolation orders 0, 1 and 3 as types (dispatch picks the per-pixel primitive). Only
orders 0 and 1 clip with `max_r`.
"""
struct Nearest end
struct Linear end
struct Cubic end

"""
    locate(order, v::VolumeView, g0, g1, g2)

Location of grid point `g` for `order` (`VoxelLocation`, `CellLocation`, `CubicLocation`),
to be used with `evaluate(v, loc)` and `scatter_at!(acc, loc, value)`.
"""
@inline locate(::Nearest, v, g0, g1, g2) = locate_nearest(v, g0, g1, g2)
@inline locate(::Linear, v, g0, g1, g2) = locate_linear(v, g0, g1, g2)
@inline locate(::Cubic, v, g0::T, g1::T, g2::T) where {T} = CubicLocation{T}(g0, g1, g2)

"Element type of `locate(order, v, g...)` for coordinates of type `Tc`."
location_type(::Nearest, ::Type{Tc}) where {Tc} = VoxelLocation
location_type(::Linear, ::Type{Tc}) where {Tc} = CellLocation{Tc}
location_type(::Cubic, ::Type{Tc}) where {Tc} = CubicLocation{Tc}

"`order`-interpolation of `v` at grid point `g` (`sample_nearest`, `sample_linear`, `sample_cubic`)."
@inline sample(order, v, g0, g1, g2) = evaluate(v, locate(order, v, g0, g1, g2))
"Adjoint of `sample` (`scatter_nearest!`, `scatter_linear!`, `scatter_cubic!`)."
@inline scatter!(order, acc, g0, g1, g2, value) = scatter_at!(acc, locate(order, acc, g0, g1, g2), value)

"Interpolation order object for recovar's integer order (0, 1, 3)."
function interpolation_order(order::Integer)
    order == 0 && return Nearest()
    order == 1 && return Linear()
    order == 3 && return Cubic()
    throw(ArgumentError("interpolation order must be 0, 1 or 3, got $order"))
end

"Element type of a projection of a volume of element type `T` with coordinates `Tc`."
projection_eltype(::Nearest, ::Type{T}, ::Type{Tc}) where {T,Tc} = T
projection_eltype(::Union{Linear,Cubic}, ::Type{T}, ::Type{Tc}) where {T,Tc} = promote_type(T, Tc)

"Center of the slice geometry for an order (cubic follows recovar's geometry helpers)."
slice_center(::Union{Nearest,Linear}, l::VolumeLayout) = volume_center(l)
slice_center(::Cubic, l::VolumeLayout) = cubic_center(l)

# ---- software prefetch -------------------------------------------------------------------
#
# Slicing reads (and backprojection updates) a few cache lines per pixel at addresses that
# move obliquely through the volume, which hardware prefetchers do not predict; one miss at
# a time leaves the core waiting on memory. The kernels therefore handle a row of pixels
# in two passes: the first locates every pixel's cell and prefetches its lines, the second
# interpolates. `llvm.prefetch` is reached with `llvmcall` in its declaration form with the
# unsuffixed intrinsic name (LLVM ≥ 10 renames it to the overloaded one while parsing);
# whether this Julia accepts it is probed once, inside `try` — otherwise prefetching is off
# (same results, slower). `ENV["RECOVAR_JL_PREFETCH"] = "none"` turns it off.

"""
    Prefetcher{M,T}(base)

Requests cache lines of a dense vector of element type `T` at address `base`:
`M = :prefetch` (`llvm.prefetch`) or `:none`.
"""
struct Prefetcher{M,T}
    base::UInt
end

# `llvm.prefetch(address, read, high locality, data cache)`
@inline llvm_prefetch(address::UInt) = Base.llvmcall(
    ("declare void @llvm.prefetch(i8*, i32, i32, i32)",
     """%ptr = inttoptr i64 %0 to i8*
     call void @llvm.prefetch(i8* %ptr, i32 0, i32 3, i32 1)
     ret void"""), Cvoid, Tuple{UInt}, address)

function prefetch_probe()
    x = Ref(0.0)
    GC.@preserve x llvm_prefetch(UInt(pointer_from_objref(x)))
    return true
end

const PREFETCH_WORKS = Ref{Int}(-1)

"""
    prefetch_kind() -> Symbol

`:prefetch` if this Julia compiles `llvm_prefetch` (probed once) and
`ENV["RECOVAR_JL_PREFETCH"]` is not "none"; else `:none`.
"""
function prefetch_kind()
    get(ENV, "RECOVAR_JL_PREFETCH", "") == "none" && return :none
    if PREFETCH_WORKS[] < 0
        PREFETCH_WORKS[] = try
            prefetch_probe() ? 1 : 0
        catch
            0
        end
    end
    return PREFETCH_WORKS[] == 1 ? :prefetch : :none
end

"`Prefetcher` for the storage of `data` (only dense storage is prefetched)."
Prefetcher(data::DenseVector{T}, kind::Symbol) where {T} =
    kind === :prefetch ? Prefetcher{:prefetch,T}(UInt(pointer(data))) : Prefetcher{:none,T}(UInt(0))
Prefetcher(data::SubArray{T,1,<:DenseArray,<:Tuple{Base.Slice,Vararg{Int}},true}, kind::Symbol) where {T} =
    kind === :prefetch ? Prefetcher{:prefetch,T}(UInt(pointer(data))) : Prefetcher{:none,T}(UInt(0))
Prefetcher(data::AbstractVector{T}, kind::Symbol) where {T} = Prefetcher{:none,T}(UInt(0))

"Prefetch the cache line of stored entry `k` (1-based; an address inside the storage)."
@inline request(pf::Prefetcher{:none}, k::Int) = nothing
@inline request(pf::Prefetcher{:prefetch,T}, k::Int) where {T} = llvm_prefetch(pf.base + UInt((k - 1) * sizeof(T)))

"""
    prefetch_location(pf, v::VolumeView, loc)

Prefetch the lines `evaluate`/`scatter_at!` will touch at `loc` (in-grid blocks only).
"""
@inline prefetch_location(::Prefetcher{:none}, v::VolumeView, loc) = nothing

@inline function prefetch_location(pf::Prefetcher{:prefetch}, v::VolumeView, loc::VoxelLocation)
    loc.kind == OUTSIDE || request(pf, loc.k)
    return nothing
end

@inline function prefetch_location(pf::Prefetcher{:prefetch}, v::VolumeView, loc::CellLocation)
    k = loc.k
    s1 = stride1(v.layout)
    s0 = stride0(v.layout)
    if loc.kind == DIRECT
        request(pf, k); request(pf, k + s1); request(pf, k + s0); request(pf, k + s0 + s1)
    elseif loc.kind == CONJUGATED
        request(pf, k); request(pf, k - s1); request(pf, k - s0); request(pf, k - s0 - s1)
    end
    return nothing
end

@inline function prefetch_location(pf::Prefetcher{:prefetch}, v::VolumeView, loc::CubicLocation)
    l = v.layout
    j0, in0 = cubic_base(loc.g0, l.n0)
    j1, in1 = cubic_base(loc.g1, l.n1)
    j2, in2 = cubic_base(loc.g2, l.n2)
    (in0 & in1 & in2) || return nothing
    for a0 in 0:3, a1 in 0:3
        request(pf, stored_location(l, j0 + a0, j1 + a1, j2 + 1)[1])
    end
    return nothing
end

# ---- work distribution -------------------------------------------------------------------

"""
    ImageBlocks(n, nthreads)

Images 1:n handed out in blocks (about 8 per thread) to whichever thread asks next
(`next_block!`), so a thread slowed down by other work on the machine does not hold up the
others. Used for projection, where each image is computed on its own (results do not
depend on the hand-out); backprojection keeps static blocks so that its sums are rounded
the same way in every run.
"""
struct ImageBlocks
    n::Int
    size::Int
    next::Threads.Atomic{Int}
end
ImageBlocks(n::Int, nthreads::Int) = ImageBlocks(n, max(1, cld(n, 8 * nthreads)), Threads.Atomic{Int}(1))

"The next block of images (empty when all are taken)."
function next_block!(blocks::ImageBlocks)
    first = Threads.atomic_add!(blocks.next, blocks.size)
    return first:min(first + blocks.size - 1, blocks.n)
end

# ---- projection --------------------------------------------------------------------------

"""
    CellRun{Tc}(width)

Cells of a run of consecutive plane frequencies kx of one row (`locate_cells!`): flat index
of each cell's corner (0,0,0) (`Int32`; 0 when the cell is not entirely in the grid) and
the fractions.
"""
struct CellRun{Tc}
    k::Vector{Int32}
    f0::Vector{Tc}
    f1::Vector{Tc}
    f2::Vector{Tc}
end
CellRun{Tc}(width::Int) where {Tc} = CellRun{Tc}(zeros(Int32, width), zeros(Tc, width), zeros(Tc, width),
                                                 zeros(Tc, width))

"Whether `locate_cells!` applies: a full volume whose flat indices fit in Int32."
cell_runs_apply(l::FullVolume) = stored_length(l) < typemax(Int32) - 1
cell_runs_apply(l::VolumeLayout) = false

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
    y = Tc(geo.u * ky)
    y0 = y * geo.r10
    y1 = y * geo.r11
    y2 = y * geo.r12
    r00, r01, r02 = geo.r00, geo.r01, geo.r02
    c0, c1, c2 = geo.c0, geo.c1, geo.c2
    top0 = Tc(l.n0 - 2)
    top1 = Tc(l.n1 - 2)
    top2 = Tc(l.n2 - 2)
    n1 = Int32(l.n1)
    n2 = Int32(l.n2)
    u = geo.u
    ks, f0s, f1s, f2s = run.k, run.f0, run.f1, run.f2
    @inbounds @simd for t in 1:count
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
    @inbounds k = Int(run.k[t])
    k != 0 && return @inbounds CellLocation{Tc}(k, DIRECT, 0, 0, 0, run.f0[t], run.f1[t], run.f2[t])
    g0, g1, g2 = grid_point(geo, kx, ky)
    return locate_linear(vol, g0, g1, g2)
end

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
    m = isqrt(rest)
    if plane.half
        return (0, min(m, (plane.w - 1) ÷ 2))
    end
    half = plane.w ÷ 2
    return (max(0, half - m), min(plane.w - 1, half + m))
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
    locate_row!(locs, js, vol, geo, plane, order, ky, limit, partners, pf, out, p) -> kept

First pass over stored row ky: every pixel with `kx² + ky² ≤ limit` is located in `vol`
(`locs[1, m]`, its stored column in `js[m]`, m = 1…kept) and its cache lines prefetched;
with `partners`, a pixel with a conjugate partner also gets the partner's location in
`locs[2, m]`. Skipped pixels are set to zero in `out[p + j + 1]` unless `out` is `nothing`.
"""
function locate_row!(locs::AbstractMatrix, js::AbstractVector{Int}, vol::VolumeView, geo::SliceGeometry,
                     plane::ImagePlane, order, ky::Int, limit::Real, partners::Bool, pf::Prefetcher, out,
                     p::Int)
    (size(locs, 1) >= 2 && size(locs, 2) >= plane.width && length(js) >= plane.width) ||
        throw(DimensionMismatch("row buffers too small"))
    out === nothing || (p >= 0 && p + plane.width <= length(out)) || throw(BoundsError(out, p + plane.width))
    kept = 0
    for j in 0:plane.width-1
        kx = column_frequency(plane, j)
        if kx * kx + ky * ky <= limit
            g0, g1, g2 = grid_point(geo, kx, ky)
            loc = locate(order, vol, g0, g1, g2)
            prefetch_location(pf, vol, loc)
            kept += 1
            @inbounds locs[1, kept] = loc
            @inbounds js[kept] = j
            if partners && has_conjugate_partner(plane, j)
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

# One row (stored pixels out[p+1 : p+width]), any order and layout.
function slice_row!(out::AbstractVector{To}, p::Int, vol::VolumeView, geo::SliceGeometry, plane::ImagePlane, order,
                    ky::Int, limit::Int, row::RowBuffer, pf::Prefetcher) where {To}
    locs = row.locs
    js = row.j
    kept = locate_row!(locs, js, vol, geo, plane, order, ky, limit, false, pf, out, p)
    for m in 1:kept
        @inbounds out[p + js[m] + 1] = convert(To, evaluate(vol, locs[1, m]))
    end
    return nothing
end

# Linear interpolation of a full volume: the kept pixels of a row form a run of consecutive
# kx, located in one vectorised loop (`locate_cells!`); same results as the general row.
function slice_row!(out::AbstractVector{To}, p::Int, vol::VolumeView{T,FullVolume}, geo::SliceGeometry,
                    plane::ImagePlane, order::Linear, ky::Int, limit::Int, row::RowBuffer,
                    pf::Prefetcher) where {To,T}
    cell_runs_apply(vol.layout) || return general_slice_row!(out, p, vol, geo, plane, order, ky, limit, row, pf)
    jlo, jhi, count = row_run(plane, ky, limit)
    run = row.run
    lo = run_frequency(plane, jlo)
    if count > 0
        locate_cells!(run, geo, vol.layout, ky, lo, count)
        prefetch_cells(pf, vol, run, 1, count)
    end
    zero_outside_run!(out, p, plane, jlo, jhi)
    if plane.half && iseven(plane.w)   # the half-image Nyquist column, outside the run
        j = plane.w ÷ 2
        if j * j + ky * ky <= limit
            g0, g1, g2 = grid_point(geo, -j, ky)
            @inbounds out[p + j + 1] = convert(To, sample_linear(vol, g0, g1, g2))
        end
    end
    for t in 1:count
        @inbounds out[p + jlo + t] = convert(To, run_value(run, t, vol, geo, lo + t - 1, ky))
    end
    return nothing
end

general_slice_row!(out, p, vol, geo, plane, order, ky, limit, row, pf) =
    invoke(slice_row!, Tuple{AbstractVector,Int,VolumeView,SliceGeometry,ImagePlane,Any,Int,Int,RowBuffer,Prefetcher},
           out, p, vol, geo, plane, order, ky, limit, row, pf)

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
contiguous blocks of images.
"""
function slice_volumes!(out::AbstractVector, vols::Vector{V}, rotations::AbstractArray{<:Real,3},
                        plane::ImagePlane, order, u::Int, max_r2::Float64) where {V<:VolumeView}
    n = size(rotations, 3)
    length(out) == npixels(plane) * n * length(vols) ||
        throw(DimensionMismatch("output has $(length(out)) entries, expected $(npixels(plane) * n * length(vols))"))
    (n == 0 || isempty(vols)) && return out
    kind = prefetch_kind()
    nthreads = min(Threads.nthreads(), n)
    out isa DenseVector && sizeof(out) >= TOUCH_BYTES && touch_pages!(out)
    GC.@preserve vols begin
        if nthreads == 1
            slice_images!(out, vols, rotations, plane, order, u, max_r2, 1:n, kind)
        else
            blocks = ImageBlocks(n, nthreads)
            Threads.@threads for t in 1:nthreads
                while true
                    images = next_block!(blocks)
                    isempty(images) && break
                    slice_images!(out, vols, rotations, plane, order, u, max_r2, images, kind)
                end
            end
        end
    end
    return out
end

# ---- backprojection ----------------------------------------------------------------------

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

# dest .+= src, threaded over blocks
function add_into!(dest::AbstractVector, src::AbstractVector)
    length(dest) == length(src) || throw(DimensionMismatch("add_into!: lengths differ"))
    m = length(dest)
    nchunks = max(1, min(Threads.nthreads(), m ÷ 65536))
    Threads.@threads for chunk in 1:nchunks
        range = chunk_range(chunk, nchunks, m)
        @inbounds @simd for k in range
            dest[k] += src[k]
        end
    end
    return dest
end

function fill_threaded!(dest::AbstractVector, value)
    m = length(dest)
    nchunks = max(1, min(Threads.nthreads(), m ÷ 65536))
    Threads.@threads for chunk in 1:nchunks
        range = chunk_range(chunk, nchunks, m)
        @inbounds @simd for k in range
            dest[k] = value
        end
    end
    return dest
end

"""
    touch_pages!(dest)

Write zero to one entry of every 4 KiB page of `dest`, threaded: a freshly allocated
output (a new NumPy array) is then faulted in by all threads at once, before the kernel
fills it, instead of page by page in the middle of the kernel's gathers (whose cached
volume the kernel's page zeroing would evict). Only for outputs the kernel overwrites
entirely.
"""
function touch_pages!(dest::DenseVector{T}) where {T}
    m = length(dest)
    step = max(1, 4096 ÷ sizeof(T))
    nchunks = max(1, min(Threads.nthreads(), m ÷ (64 * step)))
    Threads.@threads for chunk in 1:nchunks
        range = chunk_range(chunk, nchunks, m)
        @inbounds for k in first(range):step:last(range)
            dest[k] = zero(T)
        end
    end
    return dest
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

# ---- kernels (the Python entry points) ---------------------------------------------------

function check_rotations(rotations::AbstractArray)
    (ndims(rotations) == 3 && size(rotations, 1) == 3 && size(rotations, 2) == 3) ||
        throw(ArgumentError("rotation_matrices must be (n, 3, 3), got Julia size $(size(rotations))"))
    eltype(rotations) <: AbstractFloat || throw(ArgumentError("rotation_matrices must be Float32 or Float64"))
    all(isfinite, rotations) || throw(ArgumentError("rotation_matrices contains NaN or Inf"))
    return nothing
end

function volume_layout(half_volume::Integer, n0::Integer, n1::Integer, n2::Integer)
    (n0 > 0 && n1 > 0 && n2 > 0) || throw(ArgumentError("volume_shape must be positive"))
    # the flat index arithmetic must not wrap around
    Base.Checked.checked_mul(Base.Checked.checked_mul(Int(n0), Int(n1)), Int(n2))
    return half_volume != 0 ? HalfVolume(n0, n1, n2) : FullVolume(n0, n1, n2)
end

function image_plane(h::Integer, w::Integer, half_image::Integer)
    (h > 0 && w > 0) || throw(ArgumentError("image_shape must be positive"))
    Base.Checked.checked_mul(Int(h), Int(w))
    return ImagePlane(h, w, half_image != 0)
end

clip_radius2(max_r2::Real) = max_r2 < 0 ? Inf : Float64(max_r2)

"Integer bound equivalent to `kx² + ky² ≤ max_r2` for integer frequencies (`max_r2 ≥ 0`)."
clip_limit(max_r2::Float64) = max_r2 >= 2.0^60 ? typemax(Int) >> 2 : floor(Int, max_r2)

"""
    slice_volume_kernel!(out, volumes, rotations, order, half_volume, half_image,
                         n0, n1, n2, h, w, max_r2, u)

Kernel "slice_volume". NumPy shapes: `out` (B, n, npix|nhalf), `volumes` (B, V|Vh),
`rotations` (n, 3, 3). `order` 0/1/3; `half_volume`, `half_image` 0/1; `max_r2` the squared
clip radius on unrotated integer plane frequencies (negative: no clipping; ignored by
cubic); `u` the factor scaling plane frequencies. Element type of `out` must be
`projection_eltype(order, eltype(volumes), promote_type(Float32, eltype(rotations)))`.
"""
function slice_volume_kernel!(out::AbstractArray, volumes::AbstractArray, rotations::AbstractArray,
                              order::Integer, half_volume::Integer, half_image::Integer,
                              n0::Integer, n1::Integer, n2::Integer, h::Integer, w::Integer,
                              max_r2::Real, u::Integer)
    check_rotations(rotations)
    interp = interpolation_order(order)
    layout = volume_layout(half_volume, n0, n1, n2)
    plane = image_plane(h, w, half_image)
    B = size(volumes, ndims(volumes))
    length(volumes) == stored_length(layout) * B ||
        throw(DimensionMismatch("volumes have $(length(volumes)) entries, expected $B × $(stored_length(layout))"))
    Tc = promote_type(Float32, eltype(rotations))
    To = projection_eltype(interp, eltype(volumes), Tc)
    eltype(out) == To || throw(ArgumentError("output element type $(eltype(out)) should be $To"))
    flat = reshape(volumes, stored_length(layout), B)
    vols = [VolumeView(view(flat, :, b), layout) for b in 1:B]
    r2 = interp isa Cubic ? Inf : clip_radius2(max_r2)
    slice_volumes!(vec(out), vols, rotations, plane, interp, Int(u), r2)
    return nothing
end

"""
    adjoint_slice_volume_kernel!(out, slices, rotations, order, half_volume, half_image,
                                 n0, n1, n2, h, w, max_r2, u)

Kernel "adjoint_slice_volume": `out` (NumPy (B, V|Vh)) `+=` the backprojection of
`slices` (NumPy (B, n, npix|nhalf)) with `rotations` (n, 3, 3); arguments as in
`slice_volume_kernel!`. Half images (orders 0/1) are backprojected as
`half_image_to_full_image(slices)`; cubic half images as their packed pixels only
(recovar's VJP of the half-image slice).
"""
function adjoint_slice_volume_kernel!(out::AbstractArray, slices::AbstractArray, rotations::AbstractArray,
                                      order::Integer, half_volume::Integer, half_image::Integer,
                                      n0::Integer, n1::Integer, n2::Integer, h::Integer, w::Integer,
                                      max_r2::Real, u::Integer)
    check_rotations(rotations)
    interp = interpolation_order(order)
    layout = volume_layout(half_volume, n0, n1, n2)
    plane = image_plane(h, w, half_image)
    B = size(out, ndims(out))
    ndims(out) >= 1 && length(out) == stored_length(layout) * B ||
        throw(DimensionMismatch("output has $(length(out)) entries, expected $B × $(stored_length(layout))"))
    if eltype(slices) <: Complex && !(eltype(out) <: Complex)
        throw(ArgumentError("complex slices need a complex output, got $(eltype(out))"))
    end
    r2 = interp isa Cubic ? Inf : clip_radius2(max_r2)
    conjugate_partners = plane.half && !(interp isa Cubic)
    adjoint_slice_volumes!(reshape(out, stored_length(layout), B), vec(slices), rotations, plane, interp,
                           layout, Int(u), r2, conjugate_partners)
    return nothing
end

"""
    precompile_slicing()

`precompile` statements for the common signatures: complex64 volumes and images with
float32 poses (as Python passes them), every order and volume layout, down to the
type-stable inner functions that the kernels reach through dynamic dispatch. Meant to be
called from `precompile.jl`.
"""
function precompile_slicing()
    for T in (ComplexF32, ComplexF64), R in (Float32, Float64)
        precompile(slice_volume_kernel!, (Array{T,3}, Array{T,2}, Array{R,3}, Int, Int, Int, Int, Int, Int, Int, Int,
                                          Float64, Int))
        precompile(adjoint_slice_volume_kernel!, (Array{T,2}, Array{T,3}, Array{R,3}, Int, Int, Int, Int, Int, Int,
                                                  Int, Int, Float64, Int))
        column = SubArray{T,1,Array{T,2},Tuple{Base.Slice{Base.OneTo{Int}},Int},true}
        for L in (FullVolume, HalfVolume), O in (Nearest, Linear, Cubic)
            precompile(slice_volumes!, (Vector{projection_eltype(O(), T, promote_type(Float32, R))},
                                        Vector{VolumeView{T,L,column}}, Array{R,3}, ImagePlane, O, Int, Float64))
            precompile(adjoint_slice_volumes!, (Array{T,2}, Vector{T}, Array{R,3}, ImagePlane, O, L, Int, Float64,
                                                Bool))
        end
    end
    precompile(calculate_spline_coefficients_kernel!, (Array{ComplexF32,3},))
    precompile(calculate_spline_coefficients_kernel!, (Array{ComplexF64,3},))
    return nothing
end

register_kernel("slice_volume", slice_volume_kernel!)
register_kernel("adjoint_slice_volume", adjoint_slice_volume_kernel!)
