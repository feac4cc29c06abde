# Volume layouts and voxel access: `FullVolume` (the whole centered grid) and `HalfVolume`
# (its rfft-packed half), `VolumeView` (data + layout, checked once, so every in-grid access
# below is in bounds), `read_voxel` (the half layout reads the Hermitian partner for negative
# kz, i.e. it reads `half_volume_to_full_volume(h)`) and `add_voxel!` (its exact adjoint).
#
# Index conventions: NumPy C order. A grid point (i0, i1, i2) (0-based, i0 slowest) of a
# volume of NumPy shape (N0, N1, N2) is the flat entry 1 + i2 + N2·(i1 + N1·i0) of the
# Julia vector. Images: pixel (r, c) of a NumPy (H, W) image is flat entry 1 + c + W·r.

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
