# Per-image geometry: `ImagePlane` (stored pixel → integer plane frequency) and
# `SliceGeometry` (plane frequency → fractional grid point of the volume).

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
