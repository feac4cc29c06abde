# The forward model of image formation and its adjoint (recovar.core.forward, docs/conventions.md §11):
#
#     A v = CTF ⊙ slice(v)          (default max_r clipping, no translations)
#     Aᵀ s = backproject(CTF ⊙ s)
#     AᵀAv = Aᵀ (A v / σ²)
#
# on the engine's rows (src/engine/): slicing is the forward model with CTF ≡ 1. Per row of
# pixels, A v is `slice_row!` with the row's CTF as its weights; Aᵀ s
# scatters the row with `backproject_row!`, each pixel times its CTF as it is scattered
# (`ScaledRow`); AᵀAv locates each pixel once and samples v there, weights the value by
# CTF²/σ² and scatters it at the same location (`SampledRow`), never holding an image. The CTF of a row comes from ctf.jl's evaluator (`ctf_points!`, `fine_ctf_rows!`)
# and the image's constants — no CTF array. Sums over images use the engine's accumulator
# (`accumulate_images!`), so the extra memory depends on the volume size and the thread
# count, never on the number of images.

# ---- CTF sources ---------------------------------------------------------------------------
#
# A CTF source describes the CTF of every image on one image plane (full or half) and holds
# the arrays shared by all images; `image_ctf(source, i)` gives image i's constants (an
# isbits value: passing it around allocates nothing) and `ctf_row!(row, source, ic, r, columns)`
# writes the CTF of the kept columns of stored row r (0-based) into `row.values`, one entry
# per stored column.

"No CTF (skip_ctf): every value is 1 (the row buffer starts as ones and stays so)."
struct NoCTF end

"""
    TabulatedCTF(values, width)

CTF given as an array, Julia `(npix, n)` (NumPy `(n, npix)`), `width` stored columns per
row: the fallback for a CTF callable that is not a standard `CTFEvaluator`.
"""
struct TabulatedCTF{A<:AbstractMatrix{<:Real}}
    values::A
    width::Int
end

"""
    FormulaCTF(params, column_freq, row_freq, s2_max)

SPA CTF (docs/conventions.md §9) from the parameter matrix `params` (Julia `(K ≥ 9, n)`);
`column_freq[j + 1]`, `row_freq[r + 1]` are the frequencies (1/Å, recovar's float32 grid)
of stored column j and row r; `s2_max` the largest kx² + ky² of the plane (for `fast_ctf_ok`).

The CTF is point-symmetric: its phase depends on kx², ky² and kx·ky only, so the CTF at
(−kx, −ky) is computed with the same operations as at (kx, ky). On a full plane, column j
and column `column_mirror − j` have exactly opposite frequencies, and so have rows r and
`row_mirror − r` (`mirror_offset`; both −1 on half planes, whose kx ≥ 0). `ctf_row!` copies
a row whose mirror row came earlier (`mirror_row`), reversed, instead of evaluating it again
(about half of the rows).
"""
struct FormulaCTF{P<:AbstractMatrix{<:Real}}
    params::P
    column_freq::Vector{Float64}
    row_freq::Vector{Float64}
    s2_max::Float64
    row_mirror::Int
    column_mirror::Int
end
function FormulaCTF(params::AbstractMatrix{<:Real}, column_freq::Vector{Float64}, row_freq::Vector{Float64},
                    s2_max::Float64)
    column_mirror = mirror_offset(column_freq)
    row_mirror = column_mirror >= 0 ? mirror_offset(row_freq) : -1
    return FormulaCTF(params, column_freq, row_freq, s2_max, row_mirror, column_mirror)
end

"Row r's mirror row (0-based, frequency exactly −ky) when it comes before r, else −1."
mirror_row(s::FormulaCTF, r::Int) = s.row_mirror >= 0 && 0 <= s.row_mirror - r < r ? s.row_mirror - r : -1
"Whether row r is the mirror of a later row."
mirrored_later(s::FormulaCTF, r::Int) = s.row_mirror >= 0 && r < s.row_mirror - r <= length(s.row_freq) - 1

"""
    mirror_offset(freq) -> c

The c with `freq[c − j + 1] == −freq[j + 1]` exactly for every 0-based j with c − j in range
(twice the index of the zero frequency), or −1 if there is none (a half plane's kx ≥ 0).
"""
function mirror_offset(freq::Vector{Float64})
    zero_at = findfirst(iszero, freq)
    zero_at === nothing && return -1
    c = 2 * (zero_at - 1)
    n = length(freq)
    all(freq[c - j + 1] == -freq[j + 1] for j in max(0, c - n + 1):min(n - 1, c)) || return -1
    # a half plane: the mirrors cover only the zero column
    min(n - 1, c) - max(0, c - n + 1) >= n ÷ 2 || return -1
    return c
end

"""
    AntialiasedCTF(params, fine_axis, columns, s2_max)

SPA_ANTIALIASED (docs/conventions.md §10): the 3×3 zero-padded box mean of the SPA CTF on the (2N)² grid
with the same voxel size, at fine index (2r, 2c). `fine_axis` holds the 2N fine
frequencies, `columns[j + 1]` the centered column c of stored column j; `s2_max` the
largest squared frequency of the fine grid.
"""
struct AntialiasedCTF{P<:AbstractMatrix{<:Real}}
    params::P
    fine_axis::Vector{Float64}
    columns::Vector{Int}
    s2_max::Float64
end

"""
    DosedCTF(params, column_freq, row_freq, dose_mode, dose_per_tilt, angle_per_tilt,
             limit, half_inverse, s2_max)

SPA CTF × dose filter (TILT_SERIES, CRYO_ET; docs/conventions.md §10). `limit`,
`half_inverse`: the exposure tables of the stored pixels of the plane (flat, pixel
`1 + j + width·r`; the first image's voltage).
"""
struct DosedCTF{P<:AbstractMatrix{<:Real}}
    params::P
    column_freq::Vector{Float64}
    row_freq::Vector{Float64}
    dose_mode::Int
    dose_per_tilt::Float64
    angle_per_tilt::Float64
    limit::Vector{Float64}
    half_inverse::Vector{Float64}
    s2_max::Float64
end

"CTF constants of one image and whether `sincos_fast` is accurate for them (`fast_ctf_ok`)."
struct ImageCTF
    constants::CTFConstants
    fast::Bool
end

"`ImageCTF` with the image's dose-filter constants."
struct DosedImageCTF
    constants::CTFConstants
    dose::DoseConstants
    fast::Bool
end

"Dose constants of image `i` (TILT_SERIES: row 10 is the tilt number; CRYO_ET: rows 10, 11)."
function image_dose(params::AbstractMatrix, i::Int, dose_mode::Int, dose_per_tilt::Float64,
                    angle_per_tilt::Float64)
    if dose_mode == DOSE_TILT_SERIES
        tilt_number = Float64(params[10, i])
        return dose_constants(tilt_number * dose_per_tilt, angle_per_tilt * ceil(tilt_number / 2))
    end
    return dose_constants(params[10, i], params[11, i])
end

@inline function image_constants(params::AbstractMatrix, i::Int, s2_max::Float64)
    c = CTFConstants(params, i)
    return ImageCTF(c, fast_ctf_ok(c, s2_max))
end

image_ctf(::NoCTF, i::Int) = nothing
image_ctf(::TabulatedCTF, i::Int) = i
image_ctf(s::Union{FormulaCTF,AntialiasedCTF}, i::Int) = image_constants(s.params, i, s.s2_max)
function image_ctf(s::DosedCTF, i::Int)
    ic = image_constants(s.params, i, s.s2_max)
    return DosedImageCTF(ic.constants, image_dose(s.params, i, s.dose_mode, s.dose_per_tilt, s.angle_per_tilt),
                         ic.fast)
end

"""
    CTFRow(source, plane)

Per-thread scratch for the CTF of one row: `values` (one per stored column; ones, and
left so, for `NoCTF`), `weights` (the CTF combined with other per-pixel factors, e.g.
CTF²/σ²) and, for SPA_ANTIALIASED, room for three rows of the fine grid. For a
`FormulaCTF` with mirrored rows, `cache[:, r + 1]` keeps row r's values (columns
`cached[r + 1]`, of the image `cached_for[r + 1]`) for its mirror row.
"""
struct CTFRow
    values::Vector{Float64}
    weights::Vector{Float64}
    fine::Vector{Float64}
    cache::Matrix{Float64}
    cached::Vector{UnitRange{Int}}
    cached_for::Vector{ImageCTF}
end
function CTFRow(source, plane::ImagePlane)
    rows = source isa FormulaCTF && source.row_mirror >= 0 ? plane.h : 0
    # an image no call can match: NaN constants
    nobody = ImageCTF(CTFConstants(ntuple(_ -> NaN, fieldcount(CTFConstants))...), false)
    return CTFRow(ones(plane.width), zeros(plane.width), zeros(fine_rows_length(source)),
                  zeros(rows == 0 ? 0 : plane.width, rows), fill(1:0, rows), fill(nobody, rows))
end
fine_rows_length(source) = 0
fine_rows_length(s::AntialiasedCTF) = 3 * length(s.fine_axis)

"""
    ctf_row!(row::CTFRow, source, ic, r, columns) -> row.values

`row.values[j + 1]` ← the CTF of the image with constants `ic` (`image_ctf(source, i)`) at
stored pixel (r, j) for the stored columns j in `columns` (0-based; the kept ones,
`kept_range`), from ctf.jl's evaluator. Other entries may change too (`ctf_columns`).
"""
ctf_row!(row::CTFRow, ::NoCTF, ::Nothing, r::Int, columns::UnitRange{Int}) = row.values

function ctf_row!(row::CTFRow, s::TabulatedCTF, image::Int, r::Int, columns::UnitRange{Int})
    buffer = row.values
    checkbounds(buffer, columns .+ 1)
    offset = r * s.width
    for j in columns
        @inbounds buffer[j + 1] = Float64(s.values[offset + j + 1, image])
    end
    return buffer
end

function ctf_row!(row::CTFRow, s::FormulaCTF, ic::ImageCTF, r::Int, columns::UnitRange{Int})
    m = mirror_row(s, r)
    (m >= 0 && !isempty(row.cached) && row.cached_for[m + 1] === ic) && return mirror_row!(row, s, ic, r, m, columns)
    wide = ctf_columns(s, ic, columns, length(row.values))
    ctf_points!(row.values, ic.constants, s.column_freq, s.row_freq[r + 1], ic.fast, wide .+ 1)
    if mirrored_later(s, r) && !isempty(row.cached)
        checkbounds(row.cache, wide .+ 1, r + 1)
        for j in wide
            @inbounds row.cache[j + 1, r + 1] = row.values[j + 1]
        end
        row.cached[r + 1] = wide
        row.cached_for[r + 1] = ic
    end
    return row.values
end

# row r from its mirror row m of the same image: CTF(kx, ky) = CTF(−kx, −ky) (same operations,
# same value), copied reversed where the mirror columns are cached; the columns left over
# (at most the unmatched −N/2 column of an even plane) are evaluated
function mirror_row!(row::CTFRow, s::FormulaCTF, ic::ImageCTF, r::Int, m::Int, columns::UnitRange{Int})
    c = s.column_mirror
    cached = row.cached[m + 1]
    lo = max(first(columns), c - last(cached))
    hi = min(last(columns), c - first(cached))
    lo > hi && return ctf_points!(row.values, ic.constants, s.column_freq, s.row_freq[r + 1], ic.fast, columns .+ 1)
    checkbounds(row.values, (lo:hi) .+ 1)
    checkbounds(row.cache, (c - hi + 1):(c - lo + 1), m + 1)
    values, cache = row.values, row.cache
    @inbounds @simd for j in lo:hi
        values[j + 1] = cache[c - j + 1, m + 1]
    end
    ctf_points!(values, ic.constants, s.column_freq, s.row_freq[r + 1], ic.fast, (first(columns):lo-1) .+ 1)
    ctf_points!(values, ic.constants, s.column_freq, s.row_freq[r + 1], ic.fast, (hi+1:last(columns)) .+ 1)
    return values
end

ctf_row!(row::CTFRow, s::DosedCTF, ic::DosedImageCTF, r::Int, columns::UnitRange{Int}) =
    ctf_points!(row.values, ic.constants, s.column_freq, s.row_freq[r + 1], ic.fast,
                ctf_columns(s, ic, columns, length(row.values)) .+ 1, ic.dose, s.limit, s.half_inverse,
                r * length(s.column_freq))

function ctf_row!(row::CTFRow, s::AntialiasedCTF, ic::ImageCTF, r::Int, columns::UnitRange{Int})
    isempty(columns) && return row.values
    checkbounds(row.values, columns .+ 1)
    # the fine rows 2r−1 … 2r+1 the box mean of coarse row r reads (only 2r−1 can leave the grid)
    M = length(s.fine_axis)
    rows = max(2r - 1, 0):(2r + 1)
    fine_ctf_rows!(row.fine, ic.constants, s.fine_axis, rows, false, ic.fast)
    for j in columns
        @inbounds row.values[j + 1] = box_downsample(row.fine, -first(rows) * M, M ÷ 2, r, s.columns[j + 1])
    end
    return row.values
end

"Number of images a CTF source describes (`nothing`: any)."
ctf_images(::NoCTF) = nothing
ctf_images(s::TabulatedCTF) = size(s.values, 2)
ctf_images(s::Union{FormulaCTF,AntialiasedCTF,DosedCTF}) = size(s.params, 2)

const CTF_NONE = 0
const CTF_TABULATED = 1
const CTF_SPA = 2
const CTF_SPA_ANTIALIASED = 3
const CTF_TILT_SERIES = 4
const CTF_CRYO_ET = 5

"Centered column index (0-based) of every stored column of `plane`."
plane_columns(plane::ImagePlane) = Int[column_frequency(plane, j) + plane.w ÷ 2 for j in 0:plane.width-1]

"""
    ctf_source(kind, data, plane, voxel_size, dose_per_tilt, angle_per_tilt)

The CTF source of a kernel call on `plane` (a square image). `kind`: 0 none, 1 tabulated
(`data` Julia (npix, n)), 2 SPA, 3 SPA_ANTIALIASED, 4 TILT_SERIES, 5 CRYO_ET (`data` the
Julia (K, n) parameters). `voxel_size` in Å.
"""
function ctf_source(kind::Integer, data::AbstractArray, plane::ImagePlane, voxel_size::Real,
                    dose_per_tilt::Real, angle_per_tilt::Real)
    kind == CTF_NONE && return NoCTF()
    ndims(data) == 2 || throw(ArgumentError("CTF data must be a matrix, got size $(size(data))"))
    eltype(data) <: Union{Float32,Float64} || throw(ArgumentError("CTF data must be Float32 or Float64, got $(eltype(data))"))
    if kind == CTF_TABULATED
        size(data, 1) == npixels(plane) ||
            throw(DimensionMismatch("CTF array has $(size(data, 1)) pixels per image, expected $(npixels(plane))"))
        return TabulatedCTF(data, plane.width)
    end
    kind in (CTF_SPA, CTF_SPA_ANTIALIASED, CTF_TILT_SERIES, CTF_CRYO_ET) ||
        throw(ArgumentError("unknown CTF kind $kind"))
    voxel_size > 0 || throw(ArgumentError("voxel size must be positive, got $voxel_size"))
    needed = kind == CTF_CRYO_ET ? 11 : kind == CTF_TILT_SERIES ? 10 : 9
    size(data, 1) >= needed || throw(DimensionMismatch("CTF parameters need $needed columns, got $(size(data, 1))"))
    side = plane.h
    columns = plane_columns(plane)
    if kind == CTF_SPA_ANTIALIASED
        fine_axis = frequency_axis(2side, voxel_size)
        return AntialiasedCTF(data, fine_axis, columns, 2 * maximum(abs2, fine_axis))
    end
    axis = frequency_axis(side, voxel_size)
    column_freq = axis[columns .+ 1]
    # the stored pixels of the plane, flat (pixel 1 + j + width·r)
    kx = repeat(column_freq, side)
    ky = repeat(axis, inner=plane.width)
    s2_max = max_squared_frequency(kx, ky)
    kind == CTF_SPA && return FormulaCTF(data, column_freq, axis, s2_max)
    voltage = size(data, 2) > 0 ? data[4, 1] : 300.0
    limit, half_inverse = exposure_tables(kx, ky, voltage)
    mode = kind == CTF_TILT_SERIES ? DOSE_TILT_SERIES : DOSE_CRYO_ET
    return DosedCTF(data, column_freq, axis, mode, Float64(dose_per_tilt), Float64(angle_per_tilt), limit,
                    half_inverse, s2_max)
end

function check_ctf_images(source, n::Int)
    m = ctf_images(source)
    m === nothing || m == n || throw(DimensionMismatch("CTF describes $m images, rotations $n"))
    return nothing
end

# ---- rows of the forward model on the engine's rows ----------------------------------------

"""
    kept_range(plane, ky, limit) -> jlo:jhi

The stored columns (0-based) of row ky that slicing keeps (`kx² + ky² ≤ limit`):
`kept_columns`' run, and the even-w half-image Nyquist column j = w/2 when it is kept (it
then follows the run: the run is 0:w/2−1). Only these pixels carry the CTF; the others
stay exactly zero.
"""
@inline function kept_range(plane::ImagePlane, ky::Int, limit::Int)
    jlo, jhi = kept_columns(plane, ky, limit)
    nyquist = plane.half && iseven(plane.w) && (plane.w ÷ 2)^2 + ky * ky <= limit
    return jlo:(nyquist ? plane.w ÷ 2 : jhi)
end

"""
    ctf_columns(source, ic, columns, width) -> UnitRange{Int}

The stored columns whose CTF `ctf_row!` computes for the kept `columns` (`kept_range`): for
the vectorised formula sources (`FormulaCTF`, `DosedCTF` with `ic.fast`) widened within
0:width−1 to a multiple of 8, so that their SIMD loop has no scalar remainder (about 10 ns
per left-over column). The extra values are computed, never used.
"""
ctf_columns(source, ic, columns::UnitRange{Int}, width::Int) = columns
function ctf_columns(::Union{FormulaCTF,DosedCTF}, ic, columns::UnitRange{Int}, width::Int)
    (ic.fast && !isempty(columns)) || return columns
    len = min(width, 8 * cld(length(columns), 8))
    hi = min(width - 1, first(columns) + len - 1)
    return (hi - len + 1):hi
end

"""
    project_image!(out, offset, vol, geo, plane, order, limit, source, ic, row, ctf, pf)

`out[offset + p]` = CTF(p) × the `order` interpolation of `vol` at pixel p's grid point
(A v for one image), zero for pixels with `kx² + ky² > limit`: per row, the engine's
`slice_row!` with the row's CTF as its weights.
"""
@inline function project_image!(out::AbstractVector{To}, offset::Int, vol::VolumeView, geo::SliceGeometry,
                        plane::ImagePlane, order, limit::Int, source, ic, row::RowBuffer, ctf::CTFRow,
                        pf::Prefetcher) where {To}
    (offset >= 0 && offset + npixels(plane) <= length(out)) || throw(BoundsError(out, offset + npixels(plane)))
    for r in 0:plane.h-1
        ky = row_frequency(plane, r)
        p = offset + r * plane.width
        if source isa NoCTF
            slice_row!(out, p, vol, geo, plane, order, ky, limit, row, pf)
        else
            ctf_values = ctf_row!(ctf, source, ic, r, kept_range(plane, ky, limit))
            slice_row!(out, p, vol, geo, plane, order, ky, limit, row, pf, ctf_values)
        end
    end
    return nothing
end

"""
    ScaledRow{T}(values, p, multipliers)

A row of pixels to scatter (`backproject_row!`'s source): pixel k = `p + j + 1` (stored
column j) scatters `convert(T, values[k]) · real(T)(multipliers[j + 1])` — e.g. the row's
CTF for Aᵀ s. Only the kept pixels are read.
"""
struct ScaledRow{T,S<:AbstractVector}
    values::S
    p::Int
    multipliers::Vector{Float64}
end
ScaledRow{T}(values::S, p::Int, multipliers::Vector{Float64}) where {T,S} = ScaledRow{T,S}(values, p, multipliers)
@inline pixel_value(src::ScaledRow{T}, k::Int, loc) where {T} =
    @inbounds convert(T, src.values[k]) * real(T)(src.multipliers[k - src.p])

"""
    SampledRow{T}(vol, multipliers)

A row of pixels sampled from `vol` where they are scattered (`backproject_row!`'s source,
with p = 0): pixel j + 1, located at `loc`, scatters
`convert(T, evaluate(vol, loc)) · real(T)(multipliers[j + 1])` — e.g. CTF²/σ² for AᵀAv,
every pixel located once for both the slice and the scatter (`vol` has the layout of the
accumulator).
"""
struct SampledRow{T,V<:VolumeView}
    vol::V
    multipliers::Vector{Float64}
end
SampledRow{T}(vol::V, multipliers::Vector{Float64}) where {T,V} = SampledRow{T,V}(vol, multipliers)
@inline pixel_value(src::SampledRow{T}, k::Int, loc) where {T} =
    @inbounds convert(T, evaluate(src.vol, loc)) * real(T)(src.multipliers[k])

"""
    backproject_ctf_image!(s, slices, offset, geo, plane, order, limit, conjugate_partners,
                           source, ic, row, ctf, pf)

Scatter `CTF(p)·slices[offset + p]` of one image into `s` (a `Scatter`; the adjoint of
`project_image!`): per row, the engine's `backproject_row!` of the row scaled by its CTF
(`ScaledRow`; with `conjugate_partners`, half images also scatter the conjugate at the
partner frequency: the adjoint of slicing `half_image_to_full_image`).
"""
@inline function backproject_ctf_image!(s::Scatter{<:VolumeView{T}}, slices::AbstractVector, offset::Int,
                                        geo::SliceGeometry, plane::ImagePlane, order, limit::Int,
                                        conjugate_partners::Bool, source, ic, row::RowBuffer, ctf::CTFRow,
                                        pf) where {T}
    (offset >= 0 && offset + npixels(plane) <= length(slices)) || throw(BoundsError(slices, offset + npixels(plane)))
    length(ctf.values) >= plane.width || throw(DimensionMismatch("CTF row too small"))
    for r in 0:plane.h-1
        ky = row_frequency(plane, r)
        p = offset + r * plane.width
        multipliers = ctf_row!(ctf, source, ic, r, kept_range(plane, ky, limit))
        backproject_row!(s, ScaledRow{T}(slices, p, multipliers), p, geo, plane, order, ky, limit,
                         conjugate_partners, row, pf)
    end
    return nothing
end

"""
    NoiseVariance(values, pixel_stride, image_stride)

σ² of pixel p (1-based) of image i: `values[1 + (p−1)·pixel_stride + (i−1)·image_stride]`
— a scalar, a per-pixel row, a per-image column or a full (npix, n) array (NumPy
broadcasting against (n, npix)).
"""
struct NoiseVariance{A<:AbstractVector{<:Real}}
    values::A
    pixel_stride::Int
    image_stride::Int
end

@inline noise_at(nv::NoiseVariance, p::Int, i::Int) =
    @inbounds nv.values[1 + (p - 1) * nv.pixel_stride + (i - 1) * nv.image_stride]

"""
    normal_image!(s, vol, geo, plane, order, limit, source, ic, noise, i, row, ctf, pf)

Adds `Aᵢᵀ (Aᵢ v / σ²)` of image i to `s` (a `Scatter` with the layout of `vol`): per row,
the engine's `backproject_row!` of `vol` sampled at each kept pixel's location times
CTF²/σ² (`SampledRow`): every pixel is located once, evaluated, weighted and scattered at
the same location (the transpose of the same interpolation). No image is held.
"""
@inline function normal_image!(s::Scatter{<:VolumeView{T}}, vol::VolumeView, geo::SliceGeometry, plane::ImagePlane,
                               order, limit::Int, source, ic, noise::NoiseVariance, i::Int, row::RowBuffer,
                               ctf::CTFRow, pf) where {T}
    s.data.layout == vol.layout || throw(ArgumentError("accumulator and volume layouts differ"))
    plane.half && throw(ArgumentError("AᵀAv takes full images"))
    for r in 0:plane.h-1
        ky = row_frequency(plane, r)
        columns = kept_range(plane, ky, limit)
        values = ctf_row!(ctf, source, ic, r, columns)
        weights = noise_weights!(ctf.weights, values, noise, r * plane.width, i, columns)
        backproject_row!(s, SampledRow{T}(vol, weights), 0, geo, plane, order, ky, limit, false, row, pf)
    end
    return nothing
end

"`weights[j + 1]` ← CTF²/σ² of pixel `p0 + j + 1` of image i for j in `columns`, from the row's CTF `values`."
function noise_weights!(weights::Vector{Float64}, values::Vector{Float64}, noise::NoiseVariance, p0::Int, i::Int,
                        columns::UnitRange{Int})
    (checkbounds(Bool, weights, columns .+ 1) && checkbounds(Bool, values, columns .+ 1)) ||
        throw(BoundsError(weights, columns .+ 1))
    for j in columns
        @inbounds weights[j + 1] = values[j + 1] * values[j + 1] / Float64(noise_at(noise, p0 + j + 1, i))
    end
    return weights
end

# ---- threaded image loops --------------------------------------------------------------------

"Row scratch of the engine for `order`, coordinates of the rotations' precision."
forward_row_buffer(order, rotations::AbstractArray, plane::ImagePlane) =
    row_buffer(order, promote_type(Float32, eltype(rotations)), plane.width)

function project_images!(out::AbstractVector, vol::VolumeView, rotations::AbstractArray{<:Real,3},
                         plane::ImagePlane, order, u::Int, limit::Int, source, blocks::ImageBlocks, mode::Symbol)
    center = slice_center(order, vol.layout)
    row = forward_row_buffer(order, rotations, plane)
    ctf = CTFRow(source, plane)
    # function barrier: the prefetcher's type depends on `mode`
    project_blocks!(out, vol, rotations, plane, order, u, limit, source, blocks, center, row, ctf,
                    Prefetcher(vol.data, mode))
    return nothing
end

function project_blocks!(out, vol, rotations, plane, order, u, limit, source, blocks, center, row, ctf, pf)
    npix = npixels(plane)
    for images in blocks, i in images
        geo = slice_geometry(rotations, i, u, center)
        project_image!(out, (i - 1) * npix, vol, geo, plane, order, limit, source, image_ctf(source, i), row, ctf, pf)
    end
    return nothing
end

"""
    forward_project!(out, vol, rotations, plane, order, u, max_r2, source)

`out` (flat Julia (npix, n)) ← A v for every rotation; threads take blocks of images on
demand (`on_demand_blocks`).
"""
function forward_project!(out::AbstractVector, vol::VolumeView, rotations::AbstractArray{<:Real,3},
                          plane::ImagePlane, order, u::Int, max_r2::Float64, source)
    n = size(rotations, 3)
    length(out) == npixels(plane) * n ||
        throw(DimensionMismatch("output has $(length(out)) entries, expected $(npixels(plane) * n)"))
    check_ctf_images(source, n)
    n == 0 && return out
    mode = prefetch_kind()
    limit = clip_limit(max_r2)
    out isa DenseVector && sizeof(out) >= TOUCH_BYTES && touch_pages!(out)
    GC.@preserve vol begin
        on_demand_blocks(n) do blocks
            project_images!(out, vol, rotations, plane, order, u, limit, source, blocks, mode)
        end
    end
    return out
end

function backproject_ctf_images!(s::Scatter, slices::AbstractVector, rotations::AbstractArray{<:Real,3},
                                 plane::ImagePlane, order, u::Int, limit::Int, conjugate_partners::Bool,
                                 source, images::UnitRange{Int}, mode::Symbol)
    center = slice_center(order, s.data.layout)
    row = forward_row_buffer(order, rotations, plane)
    ctf = CTFRow(source, plane)
    GC.@preserve s backproject_ctf_range!(s, slices, rotations, plane, order, u, limit, conjugate_partners,
                                          source, images, center, row, ctf, scatter_prefetcher(s, mode))
    return nothing
end

# function barrier: the prefetcher's type depends on `mode`
function backproject_ctf_range!(s, slices, rotations, plane, order, u, limit, conjugate_partners, source, images,
                                center, row, ctf, pf)
    npix = npixels(plane)
    for i in images
        geo = slice_geometry(rotations, i, u, center)
        backproject_ctf_image!(s, slices, (i - 1) * npix, geo, plane, order, limit, conjugate_partners, source,
                               image_ctf(source, i), row, ctf, pf)
    end
    return nothing
end

"""
    backproject_ctf!(out, slices, rotations, plane, order, layout, u, max_r2, conjugate_partners,
                     source, apply_coefficients)

`out += Aᵀ slices` (`out` Julia vector of `stored_length(layout)`, `slices` flat (npix, n)).
Orders 0/1 scatter into per-thread accumulators of `layout`. Cubic scatters into full-volume
accumulators; with `apply_coefficients` the (self-adjoint) spline-coefficient operator is then
applied (recovar's cubic `adjoint_slice_volume`: the adjoint of `v ↦ slice(coefficients(v))`),
without it the result is the exact transpose of slicing from coefficients; a half layout
receives the fold of the full result.
"""
function backproject_ctf!(out::AbstractVector{T}, slices::AbstractVector, rotations::AbstractArray{<:Real,3},
                          plane::ImagePlane, order, layout::VolumeLayout, u::Int, max_r2::Float64,
                          conjugate_partners::Bool, source, apply_coefficients::Bool) where {T}
    n = size(rotations, 3)
    length(out) == stored_length(layout) ||
        throw(DimensionMismatch("output volume has $(length(out)) entries, layout needs $(stored_length(layout))"))
    length(slices) == npixels(plane) * n ||
        throw(DimensionMismatch("slices have $(length(slices)) entries, expected $(npixels(plane) * n)"))
    check_ctf_images(source, n)
    n == 0 && return out
    mode = prefetch_kind()
    limit = clip_limit(max_r2)
    work! = (acc, images) -> backproject_ctf_images!(acc, slices, rotations, plane, order, u, limit,
                                                     conjugate_partners, source, images, mode)
    if !samples_coefficients(order) || (!apply_coefficients && layout isa FullVolume)
        # scatter straight into `out` (it already holds the accumulator)
        nacc = backprojection_threads(n, npixels(plane), stored_length(layout), order)
        accumulate_images!(work!, Scatter(VolumeView(out, layout)), n, nacc)
        return out
    end
    # cubic with the coefficient operator or a half volume: scatter into a full volume of
    # its own, apply the (self-adjoint) coefficient operator, then add or fold into `out`
    full = FullVolume(layout.n0, layout.n1, layout.n2)
    scattered = zeros(T, stored_length(full))
    nacc = backprojection_threads(n, npixels(plane), stored_length(full), order)
    accumulate_images!(work!, Scatter(VolumeView(scattered, full)), n, nacc)
    apply_coefficients && spline_coefficients!(reshape(scattered, layout.n2, layout.n1, layout.n0))
    if layout isa HalfVolume
        fold_full_into_half!(VolumeView(out, layout), scattered)
    else
        add_into!(out, scattered)
    end
    return out
end

function normal_images!(s::Scatter, vol::VolumeView, rotations::AbstractArray{<:Real,3}, plane::ImagePlane,
                        order, u::Int, limit::Int, source, noise::NoiseVariance, images::UnitRange{Int},
                        mode::Symbol)
    center = slice_center(order, vol.layout)
    row = forward_row_buffer(order, rotations, plane)
    ctf = CTFRow(source, plane)
    # one location per pixel for both volumes: prefetch the sampled cells and the scattered ones
    pf = PairPrefetcher(scatter_prefetcher(s, mode), Prefetcher(vol.data, mode))
    GC.@preserve vol s normal_range!(s, vol, rotations, plane, order, u, limit, source, noise, images, center, row,
                                     ctf, pf)
    return nothing
end

# function barrier: the prefetchers' types depend on `mode`
function normal_range!(s, vol, rotations, plane, order, u, limit, source, noise, images, center, row, ctf, pf)
    for i in images
        geo = slice_geometry(rotations, i, u, center)
        normal_image!(s, vol, geo, plane, order, limit, source, image_ctf(source, i), noise, i, row, ctf, pf)
    end
    return nothing
end

# ---- kernels (the Python entry points) -------------------------------------------------------

function square_plane(h::Integer, w::Integer, half::Bool)
    (h > 0 && h == w) || throw(ArgumentError("image_shape must be square and positive, got ($h, $w)"))
    return ImagePlane(h, w, half)
end

"""
    forward_model_kernel!(out, volume, rotations, ctf_kind, ctf_data, voxel_size, dose_per_tilt,
                          angle_per_tilt, order, half_volume, half_image, n0, n1, n2, h, w, max_r2, u)

Kernel "forward_model". NumPy shapes: `out` (n, npix|nhalf), `volume` (V|Vh,), `rotations`
(n, 3, 3); `ctf_kind`/`ctf_data` as in `ctf_source` (parameters NumPy (n, K), tabulated CTF
(n, npix|nhalf)); `order` 0/1/3; `max_r2` squared clip radius (negative: none; cubic never
clips); `u` the plane-frequency scale. `out` = slice × CTF, element type
`promote_type(projection_eltype, real of out)` as chosen by Python.
"""
function forward_model_kernel!(out::AbstractArray, volume::AbstractArray, rotations::AbstractArray,
                               ctf_kind::Integer, ctf_data::AbstractArray, voxel_size::Real,
                               dose_per_tilt::Real, angle_per_tilt::Real, order::Integer,
                               half_volume::Integer, half_image::Integer, n0::Integer, n1::Integer,
                               n2::Integer, h::Integer, w::Integer, max_r2::Real, u::Integer)
    check_rotations(rotations)
    interp = interpolation_order(order)
    layout = volume_layout(half_volume, n0, n1, n2)
    plane = square_plane(h, w, half_image != 0)
    if eltype(volume) <: Complex && !(eltype(out) <: Complex)
        throw(ArgumentError("a complex volume needs a complex output, got $(eltype(out))"))
    end
    source = ctf_source(ctf_kind, ctf_data, plane, voxel_size, dose_per_tilt, angle_per_tilt)
    vol = VolumeView(vec(volume), layout)
    r2 = clip_radius2(interp, max_r2)
    forward_project!(vec(out), vol, rotations, plane, interp, Int(u), r2, source)
    return nothing
end

"""
    adjoint_forward_model_kernel!(out, slices, rotations, ctf_kind, ctf_data, voxel_size,
                                  dose_per_tilt, angle_per_tilt, order, half_volume, half_image,
                                  n0, n1, n2, h, w, max_r2, u, cubic_transpose)

Kernel "adjoint_forward_model": `out` (NumPy (V|Vh,)) `+=` backprojection of CTF × `slices`
(NumPy (n, npix|nhalf)). `cubic_transpose` = 0: recovar's `adjoint_forward_model` (cubic:
adjoint of slicing the spline coefficients of v); 1: the exact transpose of the forward model
(cubic: transpose of slicing from coefficients; what `forward_model_and_adjoint` returns).
"""
function adjoint_forward_model_kernel!(out::AbstractArray, slices::AbstractArray, rotations::AbstractArray,
                                       ctf_kind::Integer, ctf_data::AbstractArray, voxel_size::Real,
                                       dose_per_tilt::Real, angle_per_tilt::Real, order::Integer,
                                       half_volume::Integer, half_image::Integer, n0::Integer, n1::Integer,
                                       n2::Integer, h::Integer, w::Integer, max_r2::Real, u::Integer,
                                       cubic_transpose::Integer)
    check_rotations(rotations)
    interp = interpolation_order(order)
    layout = volume_layout(half_volume, n0, n1, n2)
    plane = square_plane(h, w, half_image != 0)
    if eltype(slices) <: Complex && !(eltype(out) <: Complex)
        throw(ArgumentError("complex slices need a complex output, got $(eltype(out))"))
    end
    source = ctf_source(ctf_kind, ctf_data, plane, voxel_size, dose_per_tilt, angle_per_tilt)
    r2 = clip_radius2(interp, max_r2)
    conjugate_partners = plane.half && scatters_partners(interp)
    backproject_ctf!(vec(out), vec(slices), rotations, plane, interp, layout, Int(u), r2, conjugate_partners,
                     source, cubic_transpose == 0)
    return nothing
end

"""
    compute_AtAv_kernel!(out, volume, rotations, ctf_kind, ctf_data, voxel_size, dose_per_tilt,
                         angle_per_tilt, noise, noise_images, noise_pixels, order, n, h, max_r2, u)

Kernel "compute_AtAv": `out` (NumPy (V,), zeroed by the caller, element type of the
computation) `+=` Aᵀ(A v / σ²) for the full-image, full-volume forward model of `volume`
(NumPy (V,), same element type as `out`), volume shape (n, n, n), image (h, h). `noise`
holds σ² as NumPy `(noise_images, noise_pixels)` with each of those 1 or (n_images, npix),
broadcast like NumPy against (n_images, npix). Per image and pixel: sample → ×CTF → /σ² →
×CTF → scatter (transpose of the same interpolation; cubic: of slicing from coefficients).
Per-thread accumulators; no image is materialised.
"""
function compute_AtAv_kernel!(out::AbstractArray, volume::AbstractArray, rotations::AbstractArray,
                              ctf_kind::Integer, ctf_data::AbstractArray, voxel_size::Real,
                              dose_per_tilt::Real, angle_per_tilt::Real, noise::AbstractArray,
                              noise_images::Integer, noise_pixels::Integer, order::Integer,
                              n0::Integer, n1::Integer, n2::Integer, h::Integer, max_r2::Real, u::Integer)
    check_rotations(rotations)
    interp = interpolation_order(order)
    layout = FullVolume(n0, n1, n2)
    plane = square_plane(h, h, false)
    npix = npixels(plane)
    n = size(rotations, 3)
    eltype(out) == eltype(volume) ||
        throw(ArgumentError("output element type $(eltype(out)) differs from the volume's $(eltype(volume))"))
    length(out) == stored_length(layout) ||
        throw(DimensionMismatch("output has $(length(out)) entries, expected $(stored_length(layout))"))
    eltype(noise) <: Union{Float32,Float64} || throw(ArgumentError("noise variance must be Float32 or Float64"))
    (noise_images == 1 || noise_images == n) && (noise_pixels == 1 || noise_pixels == npix) ||
        throw(DimensionMismatch("noise variance ($noise_images, $noise_pixels) does not broadcast against ($n, $npix)"))
    length(noise) == noise_images * noise_pixels ||
        throw(DimensionMismatch("noise variance has $(length(noise)) entries, expected $(noise_images * noise_pixels)"))
    nv = NoiseVariance(vec(noise), noise_pixels == 1 ? 0 : 1, noise_images == 1 ? 0 : Int(noise_pixels))
    source = ctf_source(ctf_kind, ctf_data, plane, voxel_size, dose_per_tilt, angle_per_tilt)
    check_ctf_images(source, n)
    n == 0 && return nothing
    vol = VolumeView(vec(volume), layout)
    r2 = clip_radius2(interp, max_r2)
    nacc = backprojection_threads(n, npix, stored_length(layout), interp)
    ui = Int(u)
    mode = prefetch_kind()
    limit = clip_limit(r2)
    work! = (acc, images) -> normal_images!(acc, vol, rotations, plane, interp, ui, limit, source, nv, images, mode)
    accumulate_images!(work!, Scatter(VolumeView(vec(out), layout)), n, nacc)
    return nothing
end

register_kernel("forward_model", forward_model_kernel!)
register_kernel("adjoint_forward_model", adjoint_forward_model_kernel!)
register_kernel("compute_AtAv", compute_AtAv_kernel!)
