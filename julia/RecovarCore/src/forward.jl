# The forward model of image formation and its adjoint (recovar.core.forward, kernels.md §6):
#
#     A v = CTF ⊙ slice(v)          (default max_r clipping, no translations)
#     Aᵀ s = backproject(CTF ⊙ s)
#     AᵀAv = Aᵀ (A v / σ²)
#
# fused per image and per pixel on the primitives of slicing.jl and ctf.jl: the CTF is
# evaluated inside the pixel loop from per-image constants (no CTF array), and AᵀAv samples,
# weights and scatters each pixel without ever holding an image. Backprojections use one
# accumulator volume per thread (thread 1 writes straight into the output), so the extra
# memory depends on the volume size and the thread count, not on the number of images.

# ---- CTF sources ---------------------------------------------------------------------------
#
# A CTF source describes the CTF of all images; `image_ctf(source, i)` gives the per-image
# object and `ctf_at(ic, p, r, c)` its value at stored pixel p (1-based within the image) of
# centered row r and centered column c (0-based, c = kx + W÷2, r = ky + H÷2).

"No CTF (skip_ctf): every value is 1."
struct NoCTF end

"""
    TabulatedCTF(values)

CTF given as an array, Julia `(npix, n)` (NumPy `(n, npix)`): the fallback for a CTF
callable that is not a standard `CTFEvaluator`.
"""
struct TabulatedCTF{A<:AbstractMatrix{<:Real}}
    values::A
end

"""
    FormulaCTF(params, axis)

SPA CTF (ctf.md §2) from the parameter matrix `params` (Julia `(K ≥ 9, n)`); `axis[c + 1]`
is the frequency (1/Å) of centered index c on recovar's float32 grid.
"""
struct FormulaCTF{P<:AbstractMatrix{<:Real}}
    params::P
    axis::Vector{Float64}
end

"""
    AntialiasedCTF(params, fine_axis)

SPA_ANTIALIASED (ctf.md §3): the 3×3 zero-padded box mean of the SPA CTF on the (2N)² grid
with the same voxel size, at fine index (2r, 2c). `fine_axis` has the 2N fine frequencies.
"""
struct AntialiasedCTF{P<:AbstractMatrix{<:Real}}
    params::P
    fine_axis::Vector{Float64}
end

"""
    DosedCTF(params, axis, dose_mode, dose_per_tilt, angle_per_tilt, limit, half_inverse, side)

SPA CTF × dose filter (TILT_SERIES, CRYO_ET; ctf.md §3–4). `limit`, `half_inverse`: the
per-pixel exposure tables of the full `side × side` grid (C order, centered indices),
computed with the first image's voltage.
"""
struct DosedCTF{P<:AbstractMatrix{<:Real}}
    params::P
    axis::Vector{Float64}
    dose_mode::Int
    dose_per_tilt::Float64
    angle_per_tilt::Float64
    limit::Vector{Float64}
    half_inverse::Vector{Float64}
    side::Int
end

struct NoImageCTF end
struct TabulatedImageCTF{A<:AbstractMatrix{<:Real}}
    values::A
    image::Int
end
struct FormulaImageCTF
    constants::CTFConstants
    axis::Vector{Float64}
end
struct AntialiasedImageCTF
    constants::CTFConstants
    fine_axis::Vector{Float64}
end
struct DosedImageCTF
    constants::CTFConstants
    dose::DoseConstants
    axis::Vector{Float64}
    limit::Vector{Float64}
    half_inverse::Vector{Float64}
    side::Int
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

image_ctf(::NoCTF, i::Int) = NoImageCTF()
image_ctf(s::TabulatedCTF, i::Int) = TabulatedImageCTF(s.values, i)
image_ctf(s::FormulaCTF, i::Int) = FormulaImageCTF(CTFConstants(s.params, i), s.axis)
image_ctf(s::AntialiasedCTF, i::Int) = AntialiasedImageCTF(CTFConstants(s.params, i), s.fine_axis)
image_ctf(s::DosedCTF, i::Int) =
    DosedImageCTF(CTFConstants(s.params, i), image_dose(s.params, i, s.dose_mode, s.dose_per_tilt, s.angle_per_tilt),
                  s.axis, s.limit, s.half_inverse, s.side)

@inline ctf_at(::NoImageCTF, p::Int, r::Int, c::Int) = 1.0
@inline ctf_at(ic::TabulatedImageCTF, p::Int, r::Int, c::Int) = @inbounds Float64(ic.values[p, ic.image])
@inline function ctf_at(ic::FormulaImageCTF, p::Int, r::Int, c::Int)
    k = ic.constants
    @inbounds kx = ic.axis[c + 1]
    @inbounds ky = ic.axis[r + 1]
    return k.decay == 0 ? ctf_value_undamped(k, kx, ky) : ctf_value(k, kx, ky)
end
@inline function ctf_at(ic::DosedImageCTF, p::Int, r::Int, c::Int)
    @inbounds kx = ic.axis[c + 1]
    @inbounds ky = ic.axis[r + 1]
    q = r * ic.side + c + 1
    @inbounds return ctf_value(ic.constants, kx, ky) * dose_factor(ic.dose, ic.limit[q], ic.half_inverse[q])
end
@inline function ctf_at(ic::AntialiasedImageCTF, p::Int, r::Int, c::Int)
    # fine pixels 2r−1 … 2r+1 × 2c−1 … 2c+1; only the −1 neighbour can leave the grid
    total = 0.0
    axis = ic.fine_axis
    @inbounds for fr in max(2r - 1, 0):(2r + 1)
        ky = axis[fr + 1]
        for fc in max(2c - 1, 0):(2c + 1)
            total += ctf_value(ic.constants, axis[fc + 1], ky)
        end
    end
    return total / 9
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

"""
    ctf_source(kind, data, side, voxel_size, dose_per_tilt, angle_per_tilt, npix)

The CTF source for a kernel call. `kind`: 0 none, 1 tabulated (`data` Julia (npix, n)),
2 SPA, 3 SPA_ANTIALIASED, 4 TILT_SERIES, 5 CRYO_ET (`data` the Julia (K, n) parameters).
`side` = N of the square image, `voxel_size` in Å.
"""
function ctf_source(kind::Integer, data::AbstractArray, side::Int, voxel_size::Real,
                    dose_per_tilt::Real, angle_per_tilt::Real, npix::Int)
    kind == CTF_NONE && return NoCTF()
    ndims(data) == 2 || throw(ArgumentError("CTF data must be a matrix, got size $(size(data))"))
    eltype(data) <: Union{Float32,Float64} || throw(ArgumentError("CTF data must be Float32 or Float64, got $(eltype(data))"))
    if kind == CTF_TABULATED
        size(data, 1) == npix || throw(DimensionMismatch("CTF array has $(size(data, 1)) pixels per image, expected $npix"))
        return TabulatedCTF(data)
    end
    kind in (CTF_SPA, CTF_SPA_ANTIALIASED, CTF_TILT_SERIES, CTF_CRYO_ET) ||
        throw(ArgumentError("unknown CTF kind $kind"))
    voxel_size > 0 || throw(ArgumentError("voxel size must be positive, got $voxel_size"))
    needed = kind == CTF_CRYO_ET ? 11 : kind == CTF_TILT_SERIES ? 10 : 9
    size(data, 1) >= needed || throw(DimensionMismatch("CTF parameters need $needed columns, got $(size(data, 1))"))
    kind == CTF_SPA_ANTIALIASED && return AntialiasedCTF(data, frequency_axis(2side, voxel_size))
    axis = frequency_axis(side, voxel_size)
    kind == CTF_SPA && return FormulaCTF(data, axis)
    kx, ky = grid_frequencies(side, voxel_size, false)
    voltage = size(data, 2) > 0 ? data[4, 1] : 300.0
    limit, half_inverse = exposure_tables(kx, ky, voltage)
    mode = kind == CTF_TILT_SERIES ? DOSE_TILT_SERIES : DOSE_CRYO_ET
    return DosedCTF(data, axis, mode, Float64(dose_per_tilt), Float64(angle_per_tilt), limit, half_inverse, side)
end

function check_ctf_images(source, n::Int)
    m = ctf_images(source)
    m === nothing || m == n || throw(DimensionMismatch("CTF describes $m images, rotations $n"))
    return nothing
end

# ---- projection: A v -------------------------------------------------------------------------

"""
    project_image!(out, offset, vol, geo, plane, order, max_r2, ic)

`out[offset + p]` = CTF(p) × the `order` interpolation of `vol` at pixel p's grid point, or
zero for pixels with `kx² + ky² > max_r2`.
"""
function project_image!(out::AbstractVector{To}, offset::Int, vol::VolumeView, geo::SliceGeometry,
                        plane::ImagePlane, order, max_r2::Float64, ic) where {To}
    offset >= 0 && offset + npixels(plane) <= length(out) || throw(BoundsError(out, offset + npixels(plane)))
    Tr = real(To)
    cw = plane.w ÷ 2
    p = 0
    for r in 0:plane.h-1
        ky = row_frequency(plane, r)
        for j in 0:plane.width-1
            p += 1
            kx = column_frequency(plane, j)
            value = zero(To)
            if kx * kx + ky * ky <= max_r2
                g0, g1, g2 = grid_point(geo, kx, ky)
                value = convert(To, sample(order, vol, g0, g1, g2) * Tr(ctf_at(ic, p, r, kx + cw)))
            end
            @inbounds out[offset + p] = value
        end
    end
    return nothing
end

function project_images!(out::AbstractVector, vol::VolumeView, rotations::AbstractArray{<:Real,3},
                         plane::ImagePlane, order, u::Int, max_r2::Float64, source, images::UnitRange{Int})
    npix = npixels(plane)
    center = slice_center(order, vol.layout)
    for i in images
        geo = slice_geometry(rotations, i, u, center)
        project_image!(out, (i - 1) * npix, vol, geo, plane, order, max_r2, image_ctf(source, i))
    end
    return nothing
end

"""
    forward_project!(out, vol, rotations, plane, order, u, max_r2, source)

`out` (flat Julia (npix, n)) ← A v for every rotation, threaded over blocks of images.
"""
function forward_project!(out::AbstractVector, vol::VolumeView, rotations::AbstractArray{<:Real,3},
                          plane::ImagePlane, order, u::Int, max_r2::Float64, source)
    n = size(rotations, 3)
    length(out) == npixels(plane) * n ||
        throw(DimensionMismatch("output has $(length(out)) entries, expected $(npixels(plane) * n)"))
    check_ctf_images(source, n)
    n == 0 && return out
    nchunks = min(Threads.nthreads(), n)
    if nchunks == 1
        project_images!(out, vol, rotations, plane, order, u, max_r2, source, 1:n)
    else
        Threads.@threads for chunk in 1:nchunks
            project_images!(out, vol, rotations, plane, order, u, max_r2, source, chunk_range(chunk, nchunks, n))
        end
    end
    return out
end

# ---- backprojection: Aᵀ s --------------------------------------------------------------------

"""
    backproject_ctf_image!(acc, slices, offset, geo, plane, order, max_r2, conjugate_partners, ic)

Scatter `CTF(p)·slices[offset + p]` of one image into `acc` (the adjoint of
`project_image!`); half images with `conjugate_partners` also scatter the conjugate at the
partner frequency (adjoint of slicing `half_image_to_full_image`).
"""
function backproject_ctf_image!(acc::VolumeView, slices::AbstractVector, offset::Int, geo::SliceGeometry,
                                plane::ImagePlane, order, max_r2::Float64, conjugate_partners::Bool, ic)
    offset >= 0 && offset + npixels(plane) <= length(slices) || throw(BoundsError(slices, offset + npixels(plane)))
    T = eltype(acc.data)
    Tr = real(T)
    cw = plane.w ÷ 2
    p = 0
    for r in 0:plane.h-1
        ky = row_frequency(plane, r)
        for j in 0:plane.width-1
            p += 1
            kx = column_frequency(plane, j)
            kx * kx + ky * ky <= max_r2 || continue
            @inbounds value = convert(T, slices[offset + p]) * Tr(ctf_at(ic, p, r, kx + cw))
            g0, g1, g2 = grid_point(geo, kx, ky)
            scatter!(order, acc, g0, g1, g2, value)
            if conjugate_partners && has_conjugate_partner(plane, j)
                px, py = partner_frequency(plane, kx, ky)
                h0, h1, h2 = grid_point(geo, px, py)
                scatter!(order, acc, h0, h1, h2, conj(value))
            end
        end
    end
    return nothing
end

function backproject_ctf_images!(acc::VolumeView, slices::AbstractVector, rotations::AbstractArray{<:Real,3},
                                 plane::ImagePlane, order, u::Int, max_r2::Float64, conjugate_partners::Bool,
                                 source, images::UnitRange{Int})
    npix = npixels(plane)
    center = slice_center(order, acc.layout)
    for i in images
        geo = slice_geometry(rotations, i, u, center)
        backproject_ctf_image!(acc, slices, (i - 1) * npix, geo, plane, order, max_r2, conjugate_partners,
                               image_ctf(source, i))
    end
    return nothing
end

"""
    with_thread_accumulators(work!, out, layout, nacc)

Run `work!(acc, chunk, nchunks)` on `nacc` threads, each with its own accumulator
`VolumeView` of `layout` (chunk 1 accumulates straight into `out`, the others into zeroed
buffers), then add the buffers into `out`. Extra memory: `nacc − 1` volumes.
"""
function with_thread_accumulators(work!, out::AbstractVector{T}, layout::VolumeLayout, nacc::Int) where {T}
    if nacc == 1
        work!(VolumeView(out, layout), 1, 1)
        return out
    end
    buffers = [zeros(T, length(out)) for _ in 2:nacc]
    Threads.@threads for chunk in 1:nacc
        target = chunk == 1 ? out : buffers[chunk-1]
        work!(VolumeView(target, layout), chunk, nacc)
    end
    for buffer in buffers
        add_into!(out, buffer)
    end
    return out
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
    if !(order isa Cubic) || (!apply_coefficients && layout isa FullVolume)
        # scatter straight into `out` (it already holds the accumulator)
        nacc = backprojection_threads(n, npixels(plane), stored_length(layout), order)
        with_thread_accumulators(out, layout, nacc) do acc, chunk, nchunks
            backproject_ctf_images!(acc, slices, rotations, plane, order, u, max_r2, conjugate_partners, source,
                                    chunk_range(chunk, nchunks, n))
        end
        return out
    end
    # cubic with the coefficient operator or a half volume: scatter into a full volume of
    # its own, apply the (self-adjoint) coefficient operator, then add or fold into `out`
    full = FullVolume(layout.n0, layout.n1, layout.n2)
    scattered = zeros(T, stored_length(full))
    nacc = backprojection_threads(n, npixels(plane), stored_length(full), order)
    with_thread_accumulators(scattered, full, nacc) do acc, chunk, nchunks
        backproject_ctf_images!(acc, slices, rotations, plane, order, u, max_r2, conjugate_partners, source,
                                chunk_range(chunk, nchunks, n))
    end
    apply_coefficients && spline_coefficients!(reshape(scattered, layout.n2, layout.n1, layout.n0))
    if layout isa HalfVolume
        fold_full_into_half!(VolumeView(out, layout), scattered)
    else
        add_into!(out, scattered)
    end
    return out
end

# ---- normal operator: AᵀAv -------------------------------------------------------------------

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
    normal_image!(acc, vol, geo, plane, order, max_r2, ic, noise, i)

Adds `Aᵢᵀ (Aᵢ v / σ²)` of image i to `acc`, pixel by pixel: sample `vol` at the pixel's grid
point, multiply by CTF²/σ², scatter with the transpose of the same interpolation. No image
is held.
"""
function normal_image!(acc::VolumeView{T}, vol::VolumeView, geo::SliceGeometry, plane::ImagePlane, order,
                       max_r2::Float64, ic, noise::NoiseVariance, i::Int) where {T}
    Tr = real(T)
    cw = plane.w ÷ 2
    p = 0
    for r in 0:plane.h-1
        ky = row_frequency(plane, r)
        for j in 0:plane.width-1
            p += 1
            kx = column_frequency(plane, j)
            kx * kx + ky * ky <= max_r2 || continue
            g0, g1, g2 = grid_point(geo, kx, ky)
            c = ctf_at(ic, p, r, kx + cw)
            weight = Tr(c * c / Float64(noise_at(noise, p, i)))
            value = convert(T, sample(order, vol, g0, g1, g2)) * weight
            scatter!(order, acc, g0, g1, g2, value)
        end
    end
    return nothing
end

function normal_images!(acc::VolumeView, vol::VolumeView, rotations::AbstractArray{<:Real,3}, plane::ImagePlane,
                        order, u::Int, max_r2::Float64, source, noise::NoiseVariance, images::UnitRange{Int})
    center = slice_center(order, vol.layout)
    for i in images
        geo = slice_geometry(rotations, i, u, center)
        normal_image!(acc, vol, geo, plane, order, max_r2, image_ctf(source, i), noise, i)
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
    source = ctf_source(ctf_kind, ctf_data, Int(h), voxel_size, dose_per_tilt, angle_per_tilt, npixels(plane))
    vol = VolumeView(vec(volume), layout)
    r2 = interp isa Cubic ? Inf : clip_radius2(max_r2)
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
    source = ctf_source(ctf_kind, ctf_data, Int(h), voxel_size, dose_per_tilt, angle_per_tilt, npixels(plane))
    r2 = interp isa Cubic ? Inf : clip_radius2(max_r2)
    conjugate_partners = plane.half && !(interp isa Cubic)
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
    source = ctf_source(ctf_kind, ctf_data, Int(h), voxel_size, dose_per_tilt, angle_per_tilt, npix)
    check_ctf_images(source, n)
    n == 0 && return nothing
    vol = VolumeView(vec(volume), layout)
    r2 = interp isa Cubic ? Inf : clip_radius2(max_r2)
    nacc = backprojection_threads(n, npix, stored_length(layout), interp)
    ui = Int(u)
    with_thread_accumulators(vec(out), layout, nacc) do acc, chunk, nchunks
        normal_images!(acc, vol, rotations, plane, interp, ui, r2, source, nv, chunk_range(chunk, nchunks, n))
    end
    return nothing
end

register_kernel("forward_model", forward_model_kernel!)
register_kernel("adjoint_forward_model", adjoint_forward_model_kernel!)
register_kernel("compute_AtAv", compute_AtAv_kernel!)
