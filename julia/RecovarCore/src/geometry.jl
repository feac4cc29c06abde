# Slice geometry and in-plane translations (recovar.core.geometry; docs/conventions.md §5,
# docs/conventions.md §7). Rotated coordinates are computed in the rotations' element type with the
# operation order recovar's XLA dot uses on CPU (bit-identical float32 coordinates, so
# nearest-index rounding agrees even at near-ties); phases are computed in Float64.
#
# Reusable per-pixel pieces for fused kernels: `plane_grid_points` (the unrotated integer
# frequencies), `rotated_plane_point` (one pixel's 3-D grid coordinate), `lattice_axis` and
# `cis_minus_2pi` / `translation_phase` (the phase of a translation).

"""
    plane_grid_points(image_side, half) -> (kx, ky)

Unrotated integer frequencies (as Float64) of every pixel of the square `image_side`² grid,
C order (kx = column frequency c − N÷2, ky = row frequency r − N÷2); `half` keeps the
rfft-packed columns only (Nyquist column kx = −N/2).
"""
function plane_grid_points(image_side::Integer, half::Bool)
    N = Int(image_side)
    axis = Float64[i - N ÷ 2 for i in 0:N-1]
    columns = half ? axis[packed_columns(N)] : axis
    return repeat(columns, N), repeat(axis, inner=length(columns))
end

"""
    rotated_plane_point(rotations, i, kx, ky, center) -> NTuple{3,T}

Row-vector product `(kx, ky, 0) @ R_i + center` for the NumPy rotation `R_i`
(`rotations[:, :, i]` in Julia, i.e. `rotations[j, a, i] = R_i[a−1, j−1]`): the fractional
(i0, i1, i2) volume index of the unrotated frequency (kx, ky) (docs/conventions.md §5). Computed
in T as `fma(ky, R[1,j], kx·R[0,j]) + center`, the order recovar's XLA dot rounds in.
"""
@inline function rotated_plane_point(rotations::AbstractArray{T,3}, i::Int, kx::T, ky::T,
                                     center::T) where {T<:Union{Float32,Float64}}
    @inbounds begin
        q1 = fma(ky, rotations[1, 2, i], kx * rotations[1, 1, i]) + center
        q2 = fma(ky, rotations[2, 2, i], kx * rotations[2, 1, i]) + center
        q3 = fma(ky, rotations[3, 2, i], kx * rotations[3, 1, i]) + center
    end
    return q1, q2, q3
end

function check_rotation_count(name, rotations::AbstractArray, n::Integer)
    size(rotations) == (3, 3, n) ||
        throw(DimensionMismatch("$name: rotations are $(size(rotations)) (Julia order), expected (3, 3, $n)"))
end

"""
    gridpoint_coords!(out, rotations, image_side, volume_side, half)

Julia shapes: `out` (3, npix, n), `rotations` (3, 3, n) (NumPy (n, 3, 3)). For each image
and pixel: `(kx, ky, 0)·u @ R + volume_side÷2`, u = volume_side ÷ image_side (the
upsampling factor), over the full grid or the rfft-packed half grid (`half` ≠ 0).
"""
function gridpoint_coords!(out::AbstractArray{T,3}, rotations::AbstractArray{T,3},
                           image_side::Integer, volume_side::Integer, half::Integer) where {T<:Union{Float32,Float64}}
    image_side > 0 || throw(ArgumentError("gridpoint_coords!: image side must be positive"))
    n = size(out, 3)
    check_rotation_count("gridpoint_coords!", rotations, n)
    kx, ky = plane_grid_points(image_side, half != 0)
    size(out) == (3, length(kx), n) ||
        throw(DimensionMismatch("gridpoint_coords!: out is $(size(out)), expected (3, $(length(kx)), $n)"))
    u = volume_side ÷ image_side
    kx_u = T.(kx .* u)
    ky_u = T.(ky .* u)
    center = T(volume_side ÷ 2)
    foreach_image(n) do i
        image_gridpoint_coords!(out, rotations, i, kx_u, ky_u, center)
    end
    return nothing
end

function image_gridpoint_coords!(out::AbstractArray{T,3}, rotations::AbstractArray{T,3}, i::Int,
                                 kx::Vector{T}, ky::Vector{T}, center::T) where {T}
    @inbounds for p in eachindex(kx)
        q1, q2, q3 = rotated_plane_point(rotations, i, kx[p], ky[p], center)
        out[1, p, i] = q1
        out[2, p, i] = q2
        out[3, p, i] = q3
    end
    return out
end

"Round half away from zero, then clip into 0:(n−1) (as a Float64 → Int, safe for any input)."
@inline clipped_index(x::Real, n::Int) = Int(clamp(round(Float64(x), RoundNearestTiesAway), 0.0, Float64(n - 1)))

"""
    nearest_gridpoint_indices!(out, rotations, image_side, n0, n1, n2, half)

`out` (npix, n) Int32: C-order flat index into the (n0, n1, n2) volume of the nearest grid
point of each pixel's rotated coordinate (`gridpoint_coords!` with upsampling factor
n0 ÷ image_side, computed in the rotations' element type), rounded half away from zero,
each component clipped into range (recovar's clipping ravel).
"""
function nearest_gridpoint_indices!(out::AbstractMatrix{Int32}, rotations::AbstractArray{T,3},
                                    image_side::Integer, n0::Integer, n1::Integer, n2::Integer,
                                    half::Integer) where {T<:Union{Float32,Float64}}
    image_side > 0 || throw(ArgumentError("nearest_gridpoint_indices!: image side must be positive"))
    min(n0, n1, n2) > 0 || throw(ArgumentError("nearest_gridpoint_indices!: volume sizes must be positive"))
    Int64(n0) * n1 * n2 <= typemax(Int32) ||
        throw(ArgumentError("nearest_gridpoint_indices!: volume too large for Int32 indices"))
    n = size(out, 2)
    check_rotation_count("nearest_gridpoint_indices!", rotations, n)
    kx, ky = plane_grid_points(image_side, half != 0)
    size(out, 1) == length(kx) ||
        throw(DimensionMismatch("nearest_gridpoint_indices!: out has $(size(out, 1)) pixels, expected $(length(kx))"))
    u = n0 ÷ image_side
    kx_u = T.(kx .* u)
    ky_u = T.(ky .* u)
    center = T(n0 ÷ 2)
    dims = (Int(n0), Int(n1), Int(n2))
    foreach_image(n) do i
        image_nearest_indices!(out, rotations, i, kx_u, ky_u, center, dims)
    end
    return nothing
end

function image_nearest_indices!(out::AbstractMatrix{Int32}, rotations::AbstractArray{T,3}, i::Int,
                                kx::Vector{T}, ky::Vector{T}, center::T, dims::NTuple{3,Int}) where {T}
    @inbounds for p in eachindex(kx)
        q1, q2, q3 = rotated_plane_point(rotations, i, kx[p], ky[p], center)
        i0 = clipped_index(q1, dims[1])
        i1 = clipped_index(q2, dims[2])
        i2 = clipped_index(q3, dims[3])
        out[p, i] = Int32((i0 * dims[2] + i1) * dims[3] + i2)
    end
    return out
end

# ---------------------------------------------------------------------------------------
# Translations (docs/conventions.md §7)
# ---------------------------------------------------------------------------------------

"""
    cis_minus_2pi(x) -> Complex{Float64}

`exp(−2πi·x)` for x in cycles, reduced modulo 1 first (exactly, for any finite x), so
large arguments lose no accuracy. Branch-free.
"""
@inline function cis_minus_2pi(x::Float64)
    r = x - round(x)
    s, c = sincos_fast(2π * r)
    return Complex(c, -s)
end

"""
    lattice_axis(n) -> Vector{Float64}

The translation lattice of a centered axis in cycles/pixel, as recovar's float32 grid holds
it: `Float32(i − n÷2) / Float32(n)` for i = 0 … n−1.
"""
lattice_axis(n::Integer) = Float64[Float64(Float32(i - n ÷ 2) / Float32(n)) for i in 0:n-1]

"""
    translation_phase(lx, ly, t0, t1) -> Complex{Float64}

Phase `exp(−2πi (lx·t0 + ly·t1))` applied to the Fourier coefficient at lattice point
(lx, ly) (cycles/pixel, `lattice_axis`) by a translation (t0, t1) in pixels: real-space
content moves by +t0 columns and +t1 rows. Equal to `cis_minus_2pi(lx·t0)·cis_minus_2pi(ly·t1)`,
the separable form the image kernels use.
"""
@inline translation_phase(lx::Float64, ly::Float64, t0::Float64, t1::Float64) =
    cis_minus_2pi(muladd(lx, t0, ly * t1))

"""
    translate_images!(out, images, translations, image_side, half)

Julia shapes: `images` (p, n) real or complex, `translations` (2, T, n) pixels, `out`
(p, T, n) complex: `out[:, t, i] = images[:, i] · exp(−2πi (kx·t0 + ky·t1)/N)` on the full
(p = N²) or rfft-packed (p = N(N÷2+1), Nyquist kx = −N/2) square grid.
"""
function translate_images!(out::AbstractArray{Complex{R},3}, images::AbstractMatrix,
                           translations::AbstractArray{<:Real,3}, image_side::Integer,
                           half::Integer) where {R<:Union{Float32,Float64}}
    N = Int(image_side)
    N > 0 || throw(ArgumentError("translate_images!: image side must be positive"))
    n = size(images, 2)
    ntrans = size(translations, 2)
    size(translations) == (2, ntrans, n) ||
        throw(DimensionMismatch("translate_images!: translations are $(size(translations)), expected (2, T, $n)"))
    axis = lattice_axis(N)
    columns = half != 0 ? axis[packed_columns(N)] : axis
    npix = length(columns) * N
    size(images, 1) == npix ||
        throw(DimensionMismatch("translate_images!: images have $(size(images, 1)) pixels, expected $npix"))
    size(out) == (npix, ntrans, n) ||
        throw(DimensionMismatch("translate_images!: out is $(size(out)), expected ($npix, $ntrans, $n)"))
    on_demand_blocks(n) do blocks
        column_phase = Vector{ComplexF64}(undef, length(columns))
        row_phase = Vector{ComplexF64}(undef, N)
        for block in blocks, i in block, t in 1:ntrans
            t0 = Float64(translations[1, t, i])
            t1 = Float64(translations[2, t, i])
            for j in eachindex(columns)
                column_phase[j] = cis_minus_2pi(columns[j] * t0)
            end
            for r in 1:N
                row_phase[r] = cis_minus_2pi(axis[r] * t1)
            end
            translate_image!(out, images, i, t, column_phase, row_phase)
        end
    end
    return nothing
end

function translate_image!(out::AbstractArray{Complex{R},3}, images::AbstractMatrix, i::Int, t::Int,
                          column_phase::Vector{ComplexF64}, row_phase::Vector{ComplexF64}) where {R}
    ncols = length(column_phase)
    for r in eachindex(row_phase)
        offset = (r - 1) * ncols
        rp = row_phase[r]
        @inbounds @simd for j in 1:ncols
            out[offset + j, t, i] = Complex{R}(images[offset + j, i] * (rp * column_phase[j]))
        end
    end
    return out
end

"""
    translate_lattice!(out, images, translations, lattice)

Julia shapes: `images` (p, n), `translations` (d, n), `lattice` (d, p), `out` (p, n)
complex: `out[j, i] = images[j, i]·exp(−2πi Σ_d lattice[d, j]·translations[d, i])`
(recovar's `batch_translate` with an arbitrary lattice).
"""
function translate_lattice!(out::AbstractMatrix{Complex{R}}, images::AbstractMatrix,
                            translations::AbstractMatrix{<:Real}, lattice::AbstractMatrix{<:Real}) where {R<:Union{Float32,Float64}}
    d, p = size(lattice)
    n = size(images, 2)
    size(images) == (p, n) || throw(DimensionMismatch("translate_lattice!: images are $(size(images)), expected ($p, $n)"))
    size(translations) == (d, n) ||
        throw(DimensionMismatch("translate_lattice!: translations are $(size(translations)), expected ($d, $n)"))
    size(out) == (p, n) || throw(DimensionMismatch("translate_lattice!: out is $(size(out)), expected ($p, $n)"))
    foreach_image(n) do i
        translate_on_lattice!(out, images, translations, lattice, i)
    end
    return nothing
end

function translate_on_lattice!(out::AbstractMatrix{Complex{R}}, images, translations, lattice, i::Int) where {R}
    d = size(lattice, 1)
    @inbounds for j in 1:size(lattice, 2)
        x = 0.0
        for k in 1:d
            x = muladd(Float64(lattice[k, j]), Float64(translations[k, i]), x)
        end
        out[j, i] = Complex{R}(images[j, i] * cis_minus_2pi(x))
    end
    return out
end

register_kernel("gridpoint_coords", gridpoint_coords!)
register_kernel("nearest_gridpoint_indices", nearest_gridpoint_indices!)
register_kernel("translate_images", translate_images!)
register_kernel("translate_lattice", translate_lattice!)
