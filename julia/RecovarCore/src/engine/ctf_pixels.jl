# The fused pair backprojection with the CTF evaluated in the kernel (issue #14): per kept row
# of an image, the CTF comes from a CTF source (forward.jl's `FormulaCTF`, `TabulatedCTF`,
# `NoCTF`, through ctf.jl's `ctf_points!`) and a `CTFCorrection` turns it into the data and
# weight multipliers of every pixel (docs/conventions.md §9), so no (n, npix) multiplier
# arrays are built. Included after forward.jl (it uses its CTF sources).

const CORRECTION_FULL = 0
const CORRECTION_NONE = 1
const CORRECTION_PHASE_FLIP = 2
const CORRECTION_PHASE_FLIPPED = 3

"""
    CTFCorrection(mode, ctf_sign, data_sign)

How a reconstruction uses the CTF value v of a pixel, the one place for the per-mode
policy: c = `ctf_sign`·v (−1: RELION's sign from recovar's), then (m_data, m_weight) =
(c, c²) for `CORRECTION_FULL`, (1, 1) `CORRECTION_NONE`, (sign c, 1) `CORRECTION_PHASE_FLIP`,
(|c|, c²) `CORRECTION_PHASE_FLIPPED`; m_data is then multiplied by `data_sign` (−1:
inverted contrast). Float32 arithmetic, as the multiplier arrays it replaces.
"""
struct CTFCorrection
    mode::Int
    ctf_sign::Float32
    data_sign::Float32
    function CTFCorrection(mode::Integer, ctf_sign::Real, data_sign::Real)
        mode in CORRECTION_FULL:CORRECTION_PHASE_FLIPPED ||
            throw(ArgumentError("CTF correction mode must be 0 (full), 1 (none), 2 (phase flip) or 3 (phase-flipped), got $mode"))
        for (name, s) in (("ctf_sign", ctf_sign), ("data_sign", data_sign))
            abs(s) == 1 || throw(ArgumentError("$name must be 1 or -1, got $s"))
        end
        return new(Int(mode), Float32(ctf_sign), Float32(data_sign))
    end
end

"(m_data, m_weight) of a pixel whose CTF source gives `value` (see `CTFCorrection`)."
@inline function ctf_multipliers(k::CTFCorrection, value::Float32)
    c = k.ctf_sign * value
    d, w = k.mode == CORRECTION_FULL ? (c, c * c) :
           k.mode == CORRECTION_NONE ? (1.0f0, 1.0f0) :
           k.mode == CORRECTION_PHASE_FLIP ? (sign(c), 1.0f0) : (abs(c), c * c)
    return (k.data_sign * d, w)
end

"""
Whether a pixel at frequency (kx, ky) (1/Å, recovar's float32 grid) lies beyond `limit`
(1/Å): |k| rounded to float32, as NumPy's `hypot` on the float32 grid (the squares of
float32 values are exact in float64).
"""
@inline function beyond_limit(kx::Float64, ky::Float64, limit::Float64)
    x, y = Float64(Float32(kx)), Float64(Float32(ky))
    return Float64(Float32(sqrt(muladd(x, x, y * y)))) > limit
end

"Per-thread multipliers of the row being scattered: pixel k of the source ↔ entry `k − start`."
mutable struct MultiplierRow
    start::Int
    data::Vector{Float32}
    weight::Vector{Float32}
    ctf::CTFRow
end
MultiplierRow(source, plane::ImagePlane) =
    MultiplierRow(0, zeros(Float32, plane.width), zeros(Float32, plane.width), CTFRow(source, plane))

"""
    CTFPixels(values, source, correction, limits, plane, voxel_size)

Per-pixel inputs of a fused pass with the CTF evaluated per row: `values` the half spectra
(flat (npix, n)), `source` a CTF source of `plane` (`ctf_source`), `correction` a
`CTFCorrection`, `limits` (n,) the frequency limit of each image (1/Å, `Inf`: none; both
multipliers are zero beyond it), `voxel_size` Å. Pixel k scatters `m_data·values[k]` and
`m_weight`. Each thread works on its own copy (`thread_source`), which owns the row.
"""
struct CTFPixels{S<:AbstractVector,C,L<:AbstractVector{<:Real}}
    values::S
    source::C
    correction::CTFCorrection
    limits::L
    column_freq::Vector{Float64}
    row_freq::Vector{Float64}
    plane::ImagePlane
    row::MultiplierRow
end
function CTFPixels(values::AbstractVector, source, correction::CTFCorrection, limits::AbstractVector{<:Real},
                   plane::ImagePlane, voxel_size::Real)
    voxel_size > 0 || throw(ArgumentError("voxel size must be positive, got $voxel_size"))
    axis = frequency_axis(plane.h, voxel_size)
    return CTFPixels(values, source, correction, limits, axis[plane_columns(plane) .+ 1], axis, plane,
                     MultiplierRow(source, plane))
end
Base.length(src::CTFPixels) = length(src.values)

thread_source(src::CTFPixels) = CTFPixels(src.values, src.source, src.correction, src.limits, src.column_freq,
                                          src.row_freq, src.plane, MultiplierRow(src.source, src.plane))

function load_row!(src::CTFPixels, offset::Int, r::Int, plane::ImagePlane, ky::Int, limit::Int)
    row = src.row
    row.start = offset + r * plane.width
    columns = kept_range(plane, ky, limit)
    isempty(columns) && return nothing
    i = offset ÷ npixels(plane) + 1
    values = ctf_row!(row.ctf, src.source, image_ctf(src.source, i), r, columns)
    multipliers!(row.data, row.weight, values, src.correction, columns)
    frequency_limit = Float64(src.limits[i])
    isfinite(frequency_limit) &&
        clear_beyond_limit!(row.data, row.weight, src.column_freq, src.row_freq[r + 1], frequency_limit, columns)
    return nothing
end

# (data, weight)[j + 1] ← the multipliers of the CTF values[j + 1], j in columns
function multipliers!(data::Vector{Float32}, weight::Vector{Float32}, values::Vector{Float64},
                      correction::CTFCorrection, columns::UnitRange{Int})
    checkbounds(values, columns .+ 1)
    checkbounds(data, columns .+ 1)
    checkbounds(weight, columns .+ 1)
    @inbounds for j in columns
        d, w = ctf_multipliers(correction, Float32(values[j + 1]))
        data[j + 1] = d
        weight[j + 1] = w
    end
    return nothing
end

# zero both multipliers of the columns of the row at frequency y beyond `limit`
function clear_beyond_limit!(data::Vector{Float32}, weight::Vector{Float32}, column_freq::Vector{Float64}, y::Float64,
                             limit::Float64, columns::UnitRange{Int})
    for j in columns
        if beyond_limit(column_freq[j + 1], y, limit)
            data[j + 1] = 0.0f0
            weight[j + 1] = 0.0f0
        end
    end
    return nothing
end

@inline function pixel_value(src::CTFPixels, k::Int, loc)
    row = src.row
    j = k - row.start
    return @inbounds (row.data[j] * src.values[k], row.weight[j])
end

"""
    backproject_pair_ctf!(data, weights, slices, source, correction, limits, voxel_size, rotations, plane,
                          order, layout, u, max_r2, conjugate_partners; threading=:auto)

`backproject_pair!` with the multipliers from a CTF source (`CTFPixels`): `slices` flat
(npix, n) complex, `source` a CTF source of `plane` describing n images, `limits` (n,)
1/Å. Same sums as `backproject_pair!` on the multiplier arrays the same policy gives.
"""
function backproject_pair_ctf!(data::AbstractMatrix, weights::AbstractMatrix{<:Real}, slices::AbstractVector, source,
                               correction::CTFCorrection, limits::AbstractVector{<:Real}, voxel_size::Real,
                               rotations::AbstractArray{<:Real,3}, plane::ImagePlane, order::Union{Nearest,Linear},
                               layout::VolumeLayout, u::Int, max_r2::Float64, conjugate_partners::Bool;
                               threading::Symbol=:auto)
    n = size(rotations, 3)
    check_ctf_images(source, n)
    length(limits) == n || throw(DimensionMismatch("limits have $(length(limits)) entries, rotations $n"))
    pixels = CTFPixels(slices, source, correction, limits, plane, voxel_size)
    backproject_pair!(data, weights, pixels, rotations, plane, order, layout, u, max_r2, conjugate_partners;
                      threading=threading)
    return nothing
end

"`precompile` statements for the reconstruction's in-kernel CTF pass (as Python calls it), from `precompile.jl`."
function precompile_pair_ctf()
    column = SubArray{ComplexF32,1,Matrix{ComplexF32},Tuple{Base.Slice{Base.OneTo{Int}},Int},true}
    for source in (FormulaCTF{Matrix{Float32}}, TabulatedCTF{Matrix{Float32}}, NoCTF), order in (Nearest, Linear)
        pixels = CTFPixels{Vector{ComplexF32},source,Vector{Float64}}
        precompile(backproject_pair_ctf!, (Matrix{ComplexF32}, Matrix{Float32}, Vector{ComplexF32}, source,
                                           CTFCorrection, Vector{Float64}, Float64, Array{Float32,3}, ImagePlane,
                                           order, HalfVolume, Int, Float64, Bool))
        for S in (Scatter{VolumeView{ComplexF32,HalfVolume,column},
                          VolumeView{Float32,HalfVolume,SubArray{Float32,1,Matrix{Float32},Tuple{Base.Slice{Base.OneTo{Int}},Int},true}},
                          T} for T in (Nothing, Slab))
            precompile(backproject_image_range!, (S, pixels, Int, Int, Array{Float32,3}, ImagePlane, order, Int,
                                                  Float64, Bool, UnitRange{Int}, Symbol))
        end
    end
    return nothing
end
