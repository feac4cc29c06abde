# The forward model of image formation and its adjoint (recovar.core.forward, kernels.md §6):
#
#     A v = CTF ⊙ slice(v)          (default max_r clipping, no translations)
#     Aᵀ s = backproject(CTF ⊙ s)
#     AᵀAv = Aᵀ (A v / σ²)
#
# fused per image on the engine's primitives (src/engine/, src/interp/: grid points,
# prefetch, sample/scatter) and ctf.jl (per-image `CTFConstants`, branch-free `ctf_value`).
# Each row of pixels is done in passes, as the projection engine does: grid points and
# prefetches of the cells first, then the CTF of the row (a vectorised loop into a row
# buffer, from the image's constants — no CTF array), then the interpolation. AᵀAv samples, weights and scatters each pixel without ever
# holding an image. Backprojections use accumulators per thread (see
# `accumulate_images!`), so the extra memory depends on the volume size and the thread count,
# never on the number of images.

# ---- CTF sources ---------------------------------------------------------------------------
#
# A CTF source describes the CTF of every image on one image plane (full or half);
# `image_ctf(source, i)` gives image i's object and `ctf_row!(buffer, ic, r)` writes the CTF
# of stored row r (0-based) into `buffer[1:width]`, one entry per stored column.

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
    FormulaCTF(params, column_freq, row_freq)

SPA CTF (ctf.md §2) from the parameter matrix `params` (Julia `(K ≥ 9, n)`);
`column_freq[j + 1]`, `row_freq[r + 1]` are the frequencies (1/Å, recovar's float32 grid)
of stored column j and row r.
"""
struct FormulaCTF{P<:AbstractMatrix{<:Real}}
    params::P
    column_freq::Vector{Float64}
    row_freq::Vector{Float64}
end

"""
    AntialiasedCTF(params, fine_axis, columns)

SPA_ANTIALIASED (ctf.md §3): the 3×3 zero-padded box mean of the SPA CTF on the (2N)² grid
with the same voxel size, at fine index (2r, 2c). `fine_axis` holds the 2N fine
frequencies, `columns[j + 1]` the centered column c of stored column j.
"""
struct AntialiasedCTF{P<:AbstractMatrix{<:Real}}
    params::P
    fine_axis::Vector{Float64}
    columns::Vector{Int}
end

"""
    DosedCTF(params, column_freq, row_freq, columns, side, dose_mode, dose_per_tilt,
             angle_per_tilt, limit, half_inverse)

SPA CTF × dose filter (TILT_SERIES, CRYO_ET; ctf.md §3–4). `limit`, `half_inverse`: the
exposure tables of the full `side × side` grid (C order, centered indices, the first image's
voltage); `columns[j + 1]` the centered column of stored column j.
"""
struct DosedCTF{P<:AbstractMatrix{<:Real}}
    params::P
    column_freq::Vector{Float64}
    row_freq::Vector{Float64}
    columns::Vector{Int}
    side::Int
    dose_mode::Int
    dose_per_tilt::Float64
    angle_per_tilt::Float64
    limit::Vector{Float64}
    half_inverse::Vector{Float64}
end

struct NoImageCTF end
struct TabulatedImageCTF{A<:AbstractMatrix{<:Real}}
    values::A
    width::Int
    image::Int
end
struct FormulaImageCTF
    constants::CTFConstants
    column_freq::Vector{Float64}
    row_freq::Vector{Float64}
end
struct AntialiasedImageCTF
    constants::CTFConstants
    fine_axis::Vector{Float64}
    columns::Vector{Int}
end
struct DosedImageCTF
    constants::CTFConstants
    dose::DoseConstants
    column_freq::Vector{Float64}
    row_freq::Vector{Float64}
    columns::Vector{Int}
    side::Int
    limit::Vector{Float64}
    half_inverse::Vector{Float64}
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
image_ctf(s::TabulatedCTF, i::Int) = TabulatedImageCTF(s.values, s.width, i)
image_ctf(s::FormulaCTF, i::Int) = FormulaImageCTF(CTFConstants(s.params, i), s.column_freq, s.row_freq)
image_ctf(s::AntialiasedCTF, i::Int) = AntialiasedImageCTF(CTFConstants(s.params, i), s.fine_axis, s.columns)
image_ctf(s::DosedCTF, i::Int) =
    DosedImageCTF(CTFConstants(s.params, i), image_dose(s.params, i, s.dose_mode, s.dose_per_tilt, s.angle_per_tilt),
                  s.column_freq, s.row_freq, s.columns, s.side, s.limit, s.half_inverse)

"""
    ctf_row!(buffer, ic, r)

`buffer[j + 1]` ← the CTF of image `ic` at stored pixel (r, j) for every stored column j.
The SPA and dose-filtered forms are branch-free loops that vectorise.
"""
ctf_row!(buffer::Vector{Float64}, ::NoImageCTF, r::Int) = buffer

function ctf_row!(buffer::Vector{Float64}, ic::TabulatedImageCTF, r::Int)
    offset = r * ic.width
    @inbounds for j in 1:ic.width
        buffer[j] = Float64(ic.values[offset + j, ic.image])
    end
    return buffer
end

function ctf_row!(buffer::Vector{Float64}, ic::FormulaImageCTF, r::Int)
    k = ic.constants
    fx = ic.column_freq
    @inbounds fy = ic.row_freq[r + 1]
    if k.decay == 0
        @inbounds @simd for j in eachindex(fx)
            buffer[j] = ctf_value_undamped(k, fx[j], fy)
        end
    else
        @inbounds @simd for j in eachindex(fx)
            buffer[j] = ctf_value(k, fx[j], fy)
        end
    end
    return buffer
end

function ctf_row!(buffer::Vector{Float64}, ic::DosedImageCTF, r::Int)
    k = ic.constants
    d = ic.dose
    fx = ic.column_freq
    @inbounds fy = ic.row_freq[r + 1]
    base = r * ic.side + 1
    @inbounds @simd for j in eachindex(fx)
        q = base + ic.columns[j]
        buffer[j] = ctf_value(k, fx[j], fy) * dose_factor(d, ic.limit[q], ic.half_inverse[q])
    end
    return buffer
end

function ctf_row!(buffer::Vector{Float64}, ic::AntialiasedImageCTF, r::Int)
    axis = ic.fine_axis
    @inbounds for j in eachindex(ic.columns)
        c = ic.columns[j]
        # fine pixels 2r−1 … 2r+1 × 2c−1 … 2c+1; only the −1 neighbour can leave the grid
        total = 0.0
        for fr in max(2r - 1, 0):(2r + 1)
            ky = axis[fr + 1]
            for fc in max(2c - 1, 0):(2c + 1)
                total += ctf_value(ic.constants, axis[fc + 1], ky)
            end
        end
        buffer[j] = total / 9
    end
    return buffer
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
    kind == CTF_SPA_ANTIALIASED && return AntialiasedCTF(data, frequency_axis(2side, voxel_size), columns)
    axis = frequency_axis(side, voxel_size)
    column_freq = axis[columns .+ 1]
    kind == CTF_SPA && return FormulaCTF(data, column_freq, axis)
    kx, ky = grid_frequencies(side, voxel_size, false)
    voltage = size(data, 2) > 0 ? data[4, 1] : 300.0
    limit, half_inverse = exposure_tables(kx, ky, voltage)
    mode = kind == CTF_TILT_SERIES ? DOSE_TILT_SERIES : DOSE_CRYO_ET
    return DosedCTF(data, column_freq, axis, columns, side, mode, Float64(dose_per_tilt), Float64(angle_per_tilt),
                    limit, half_inverse)
end

function check_ctf_images(source, n::Int)
    m = ctf_images(source)
    m === nothing || m == n || throw(DimensionMismatch("CTF describes $m images, rotations $n"))
    return nothing
end

"""
    RowScratch{L}(width)

Per-thread scratch for one row: the interpolation locations of the kept pixels (the orders'
`locate`; a second row for conjugate partners), their stored columns, and the row's CTF
(ones until a CTF is written).
"""
struct RowScratch{L}
    locs::Matrix{L}
    j::Vector{Int}
    ctf::Vector{Float64}
end
RowScratch{L}(width::Int) where {L} = RowScratch{L}(Matrix{L}(undef, 2, width), zeros(Int, width), ones(width))

function check_scratch(scratch::RowScratch, plane::ImagePlane)
    (size(scratch.locs, 2) >= plane.width && length(scratch.j) >= plane.width && length(scratch.ctf) >= plane.width) ||
        throw(DimensionMismatch("row scratch too small"))
    return nothing
end

"Scratch for one thread: locations of `order` with coordinates of the rotations' precision."
row_scratch(order, rotations::AbstractArray, plane::ImagePlane) =
    RowScratch{location_type(order, promote_type(Float32, eltype(rotations)))}(plane.width)

# ---- fast path: trilinear rows of full volumes --------------------------------------------
#
# For the common case (linear interpolation, full volume) the kept pixels of a row form a
# run of consecutive plane frequencies kx (src/engine/rows.jl's `kept_columns`), whose cells are
# located by the vectorised `locate_cells!` (a `CellRun`; `cell_location` falls back
# to `locate_linear` for cells not entirely in the grid), so results are identical to the
# general path; the values are then read with `evaluate` / `scatter_at!` at a `CellLocation`.

"Whether the fast path applies: trilinear interpolation of a full volume with Int32 flat indices."
fast_linear(order, layout::VolumeLayout) = false
fast_linear(::Linear, l::FullVolume) = cell_runs_apply(l)

# ---- projection: A v -------------------------------------------------------------------------

"""
    project_image!(out, offset, vol, geo, plane, order, max_r2, ic, scratch, pf)

`out[offset + p]` = CTF(p) × the `order` interpolation of `vol` at pixel p's grid point, or
zero for pixels with `kx² + ky² > max_r2`. Per row: locations and prefetches, the row's
CTF, then the values.
"""
function project_image!(out::AbstractVector{To}, offset::Int, vol::VolumeView, geo::SliceGeometry,
                        plane::ImagePlane, order, max_r2::Float64, ic, scratch::RowScratch,
                        pf::Prefetcher) where {To}
    (offset >= 0 && offset + npixels(plane) <= length(out)) || throw(BoundsError(out, offset + npixels(plane)))
    check_scratch(scratch, plane)
    locs = scratch.locs
    js = scratch.j
    cbuf = scratch.ctf
    Tr = real(To)
    p = offset
    for r in 0:plane.h-1
        ky = row_frequency(plane, r)
        kept = locate_row!(locs, js, vol, geo, plane, order, ky, max_r2, false, pf, out, p)
        kept > 0 && ctf_row!(cbuf, ic, r)
        for m in 1:kept
            @inbounds j = js[m]
            @inbounds value = evaluate(vol, locs[1, m])
            @inbounds out[p + j + 1] = convert(To, value * Tr(cbuf[j + 1]))
        end
        p += plane.width
    end
    return nothing
end

"""
    project_image_fast!(out, offset, vol, geo, plane, max_r2, ic, scratch, run, pf)

`project_image!` for trilinear interpolation of a full volume: the kept run of each row is
located by the vectorised `locate_cells!` (same results).
"""
function project_image_fast!(out::AbstractVector{To}, offset::Int, vol::VolumeView{T,FullVolume},
                             geo::SliceGeometry{Tc}, plane::ImagePlane, max_r2::Float64, ic, scratch::RowScratch,
                             run::CellRun{Tc}, pf::Prefetcher) where {To,T,Tc}
    (offset >= 0 && offset + npixels(plane) <= length(out)) || throw(BoundsError(out, offset + npixels(plane)))
    check_scratch(scratch, plane)
    cbuf = scratch.ctf
    Tr = real(To)
    limit = clip_limit(max_r2)
    nyquist = plane.half && iseven(plane.w)
    p = offset
    for r in 0:plane.h-1
        ky = row_frequency(plane, r)
        jlo, jhi, count = row_run(plane, ky, limit)
        lo = run_frequency(plane, jlo)
        zero_outside_run!(out, p, plane, jlo, jhi)
        nyquist_kept = nyquist && (plane.w ÷ 2)^2 + ky * ky <= max_r2
        (count > 0 || nyquist_kept) && ctf_row!(cbuf, ic, r)
        if count > 0
            locate_cells!(run, geo, vol.layout, ky, lo, count)
            prefetch_cells(pf, vol, run, 1, count)
            for t in 1:count
                j = jlo + t - 1
                @inbounds out[p + j + 1] = convert(To, run_value(run, t, vol, geo, lo + t - 1, ky) * Tr(cbuf[j + 1]))
            end
        end
        if nyquist_kept
            j = plane.w ÷ 2
            g0, g1, g2 = grid_point(geo, -j, ky)
            @inbounds out[p + j + 1] = convert(To, sample_linear(vol, g0, g1, g2) * Tr(cbuf[j + 1]))
        end
        p += plane.width
    end
    return nothing
end

function project_images!(out::AbstractVector, vol::VolumeView, rotations::AbstractArray{<:Real,3},
                         plane::ImagePlane, order, u::Int, max_r2::Float64, source, images::UnitRange{Int},
                         mode::Symbol)
    npix = npixels(plane)
    center = slice_center(order, vol.layout)
    scratch = row_scratch(order, rotations, plane)
    pf = Prefetcher(vol.data, mode)
    fast = fast_linear(order, vol.layout)
    run = CellRun{promote_type(Float32, eltype(rotations))}(plane.width)
    for i in images
        geo = slice_geometry(rotations, i, u, center)
        if fast
            project_image_fast!(out, (i - 1) * npix, vol, geo, plane, max_r2, image_ctf(source, i), scratch, run, pf)
        else
            project_image!(out, (i - 1) * npix, vol, geo, plane, order, max_r2, image_ctf(source, i), scratch, pf)
        end
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
    mode = prefetch_kind()
    nchunks = min(Threads.nthreads(), n)
    GC.@preserve vol begin
        if nchunks == 1
            project_images!(out, vol, rotations, plane, order, u, max_r2, source, 1:n, mode)
        else
            Threads.@threads for chunk in 1:nchunks
                project_images!(out, vol, rotations, plane, order, u, max_r2, source,
                                chunk_range(chunk, nchunks, n), mode)
            end
        end
    end
    return out
end

# ---- accumulation ----------------------------------------------------------------------------

"""
    accumulate_images!(work!, out, layout, n, nacc)

`out += Σ_i contribution of image i`, where `work!(acc::VolumeView, images::UnitRange)`
scatters the given images into `acc` (a volume of `layout`). The images are split into
`nacc` contiguous chunks, one per thread, each scattering into its own accumulator (chunk 1
straight into `out` when no blocking is needed). For 32-bit element types with more than
`FLUSH_BLOCK` images per thread, each thread scatters blocks of `FLUSH_BLOCK` images into
its accumulator and adds it into `out` (under a lock) after every block: blocked summation,
so the result does not drift with the number of images. Extra memory: at most `nacc`
volumes — independent of `n`.
"""
function accumulate_images!(work!, out::AbstractVector{T}, layout::VolumeLayout, n::Int, nacc::Int) where {T}
    n == 0 && return out
    if !needs_blocking(T) || cld(n, nacc) <= FLUSH_BLOCK
        if nacc == 1
            work!(VolumeView(out, layout), 1:n)
            return out
        end
        buffers = [zeros(T, length(out)) for _ in 2:nacc]
        Threads.@threads for chunk in 1:nacc
            target = chunk == 1 ? out : buffers[chunk-1]
            work!(VolumeView(target, layout), chunk_range(chunk, nacc, n))
        end
        for buffer in buffers
            add_into!(out, buffer)
        end
        return out
    end
    out_lock = ReentrantLock()
    Threads.@threads for chunk in 1:nacc
        part = zeros(T, length(out))
        images = chunk_range(chunk, nacc, n)
        for start in first(images):FLUSH_BLOCK:last(images)
            start > first(images) && fill!(part, zero(T))
            work!(VolumeView(part, layout), start:min(start + FLUSH_BLOCK - 1, last(images)))
            lock(out_lock)
            try
                add_block!(out, part)
            finally
                unlock(out_lock)
            end
        end
    end
    return out
end

# ---- backprojection: Aᵀ s --------------------------------------------------------------------

"""
    backproject_ctf_image!(acc, slices, offset, geo, plane, order, max_r2, conjugate_partners,
                           ic, scratch, pf)

Scatter `CTF(p)·slices[offset + p]` of one image into `acc` (the adjoint of
`project_image!`); half images with `conjugate_partners` also scatter the conjugate at the
partner frequency (adjoint of slicing `half_image_to_full_image`).
"""
function backproject_ctf_image!(acc::VolumeView{T}, slices::AbstractVector, offset::Int, geo::SliceGeometry,
                                plane::ImagePlane, order, max_r2::Float64, conjugate_partners::Bool, ic,
                                scratch::RowScratch, pf::Prefetcher) where {T}
    (offset >= 0 && offset + npixels(plane) <= length(slices)) || throw(BoundsError(slices, offset + npixels(plane)))
    check_scratch(scratch, plane)
    locs = scratch.locs
    js = scratch.j
    cbuf = scratch.ctf
    Tr = real(T)
    p = offset
    for r in 0:plane.h-1
        ky = row_frequency(plane, r)
        kept = locate_row!(locs, js, acc, geo, plane, order, ky, max_r2, conjugate_partners, pf, nothing, p)
        kept > 0 && ctf_row!(cbuf, ic, r)
        for m in 1:kept
            @inbounds j = js[m]
            @inbounds value = convert(T, slices[p + j + 1]) * Tr(cbuf[j + 1])
            @inbounds scatter_at!(acc, locs[1, m], value)
            if conjugate_partners && has_conjugate_partner(plane, j)
                @inbounds scatter_at!(acc, locs[2, m], conj(value))
            end
        end
        p += plane.width
    end
    return nothing
end

"""
    backproject_ctf_image_fast!(acc, slices, offset, geo, plane, max_r2, ic, scratch, run, pf)

`backproject_ctf_image!` for trilinear scatter into a full volume from full images (runs
located by `locate_cells!`; same results).
"""
function backproject_ctf_image_fast!(acc::VolumeView{T,FullVolume}, slices::AbstractVector, offset::Int,
                                     geo::SliceGeometry{Tc}, plane::ImagePlane, max_r2::Float64, ic,
                                     scratch::RowScratch, run::CellRun{Tc}, pf::Prefetcher) where {T,Tc}
    plane.half && throw(ArgumentError("the fast backprojection takes full images"))
    (offset >= 0 && offset + npixels(plane) <= length(slices)) || throw(BoundsError(slices, offset + npixels(plane)))
    check_scratch(scratch, plane)
    cbuf = scratch.ctf
    Tr = real(T)
    limit = clip_limit(max_r2)
    p = offset
    for r in 0:plane.h-1
        ky = row_frequency(plane, r)
        jlo, jhi = kept_columns(plane, ky, limit)
        count = jhi - jlo + 1
        lo = run_frequency(plane, jlo)
        if count > 0
            locate_cells!(run, geo, acc.layout, ky, lo, count)
            prefetch_cells(pf, acc, run, 1, count)
            ctf_row!(cbuf, ic, r)
            for t in 1:count
                j = jlo + t - 1
                @inbounds value = convert(T, slices[p + j + 1]) * Tr(cbuf[j + 1])
                scatter_at!(acc, cell_location(run, t, acc, geo, lo + t - 1, ky), value)
            end
        end
        p += plane.width
    end
    return nothing
end

function backproject_ctf_images!(acc::VolumeView, slices::AbstractVector, rotations::AbstractArray{<:Real,3},
                                 plane::ImagePlane, order, u::Int, max_r2::Float64, conjugate_partners::Bool,
                                 source, images::UnitRange{Int}, mode::Symbol)
    npix = npixels(plane)
    center = slice_center(order, acc.layout)
    scratch = row_scratch(order, rotations, plane)
    pf = Prefetcher(acc.data, mode)
    fast = fast_linear(order, acc.layout) && !plane.half
    run = CellRun{promote_type(Float32, eltype(rotations))}(plane.width)
    GC.@preserve acc for i in images
        geo = slice_geometry(rotations, i, u, center)
        if fast
            backproject_ctf_image_fast!(acc, slices, (i - 1) * npix, geo, plane, max_r2, image_ctf(source, i),
                                        scratch, run, pf)
        else
            backproject_ctf_image!(acc, slices, (i - 1) * npix, geo, plane, order, max_r2, conjugate_partners,
                                   image_ctf(source, i), scratch, pf)
        end
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
    work! = (acc, images) -> backproject_ctf_images!(acc, slices, rotations, plane, order, u, max_r2,
                                                     conjugate_partners, source, images, mode)
    if !(order isa Cubic) || (!apply_coefficients && layout isa FullVolume)
        # scatter straight into `out` (it already holds the accumulator)
        nacc = backprojection_threads(n, npixels(plane), stored_length(layout), order)
        accumulate_images!(work!, out, layout, n, nacc)
        return out
    end
    # cubic with the coefficient operator or a half volume: scatter into a full volume of
    # its own, apply the (self-adjoint) coefficient operator, then add or fold into `out`
    full = FullVolume(layout.n0, layout.n1, layout.n2)
    scattered = zeros(T, stored_length(full))
    nacc = backprojection_threads(n, npixels(plane), stored_length(full), order)
    accumulate_images!(work!, scattered, full, n, nacc)
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
    normal_image!(acc, vol, geo, plane, order, max_r2, ic, noise, i, scratch, pf_vol, pf_acc)

Adds `Aᵢᵀ (Aᵢ v / σ²)` of image i to `acc` (same layout as `vol`), pixel by pixel: locate
the pixel's grid point once, evaluate `vol` there, multiply by CTF²/σ², scatter into `acc`
at the same location (the transpose of the same interpolation). No image is held; per row
only the locations and the CTF.
"""
function normal_image!(acc::VolumeView{T}, vol::VolumeView, geo::SliceGeometry, plane::ImagePlane, order,
                       max_r2::Float64, ic, noise::NoiseVariance, i::Int, scratch::RowScratch,
                       pf_vol::Prefetcher, pf_acc::Prefetcher) where {T}
    acc.layout == vol.layout || throw(ArgumentError("accumulator and volume layouts differ"))
    check_scratch(scratch, plane)
    locs = scratch.locs
    js = scratch.j
    cbuf = scratch.ctf
    Tr = real(T)
    for r in 0:plane.h-1
        ky = row_frequency(plane, r)
        kept = 0
        for j in 0:plane.width-1
            kx = column_frequency(plane, j)
            kx * kx + ky * ky <= max_r2 || continue
            g0, g1, g2 = grid_point(geo, kx, ky)
            loc = locate(order, vol, g0, g1, g2)
            prefetch_location(pf_vol, vol, loc)
            prefetch_location(pf_acc, acc, loc)
            kept += 1
            @inbounds locs[1, kept] = loc
            @inbounds js[kept] = j
        end
        kept > 0 && ctf_row!(cbuf, ic, r)
        p0 = r * plane.width + 1
        for m in 1:kept
            @inbounds j = js[m]
            @inbounds c = cbuf[j + 1]
            weight = Tr(c * c / Float64(noise_at(noise, p0 + j, i)))
            @inbounds loc = locs[1, m]
            value = convert(T, evaluate(vol, loc)) * weight
            scatter_at!(acc, loc, value)
        end
    end
    return nothing
end

"""
    normal_image_fast!(acc, vol, geo, plane, max_r2, ic, noise, i, scratch, run, pf_vol, pf_acc)

`normal_image!` for trilinear interpolation of full volumes (runs located by
`locate_cells!`; same results).
"""
function normal_image_fast!(acc::VolumeView{T,FullVolume}, vol::VolumeView{S,FullVolume}, geo::SliceGeometry{Tc},
                            plane::ImagePlane, max_r2::Float64, ic, noise::NoiseVariance, i::Int,
                            scratch::RowScratch, run::CellRun{Tc}, pf_vol::Prefetcher,
                            pf_acc::Prefetcher) where {T,S,Tc}
    acc.layout == vol.layout || throw(ArgumentError("accumulator and volume layouts differ"))
    plane.half && throw(ArgumentError("AᵀAv takes full images"))
    check_scratch(scratch, plane)
    cbuf = scratch.ctf
    Tr = real(T)
    limit = clip_limit(max_r2)
    for r in 0:plane.h-1
        ky = row_frequency(plane, r)
        jlo, jhi = kept_columns(plane, ky, limit)
        count = jhi - jlo + 1
        lo = run_frequency(plane, jlo)
        count > 0 || continue
        locate_cells!(run, geo, vol.layout, ky, lo, count)
        prefetch_cells(pf_vol, vol, run, 1, count)
        prefetch_cells(pf_acc, acc, run, 1, count)
        ctf_row!(cbuf, ic, r)
        p0 = r * plane.width + 1
        for t in 1:count
            j = jlo + t - 1
            @inbounds c = cbuf[j + 1]
            weight = Tr(c * c / Float64(noise_at(noise, p0 + j, i)))
            loc = cell_location(run, t, vol, geo, lo + t - 1, ky)
            scatter_at!(acc, loc, convert(T, evaluate(vol, loc)) * weight)
        end
    end
    return nothing
end

function normal_images!(acc::VolumeView, vol::VolumeView, rotations::AbstractArray{<:Real,3}, plane::ImagePlane,
                        order, u::Int, max_r2::Float64, source, noise::NoiseVariance, images::UnitRange{Int},
                        mode::Symbol)
    center = slice_center(order, vol.layout)
    scratch = row_scratch(order, rotations, plane)
    pf_vol = Prefetcher(vol.data, mode)
    pf_acc = Prefetcher(acc.data, mode)
    fast = fast_linear(order, vol.layout)
    run = CellRun{promote_type(Float32, eltype(rotations))}(plane.width)
    GC.@preserve vol acc for i in images
        geo = slice_geometry(rotations, i, u, center)
        if fast
            normal_image_fast!(acc, vol, geo, plane, max_r2, image_ctf(source, i), noise, i, scratch, run, pf_vol,
                               pf_acc)
        else
            normal_image!(acc, vol, geo, plane, order, max_r2, image_ctf(source, i), noise, i, scratch, pf_vol,
                          pf_acc)
        end
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
    source = ctf_source(ctf_kind, ctf_data, plane, voxel_size, dose_per_tilt, angle_per_tilt)
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
    source = ctf_source(ctf_kind, ctf_data, plane, voxel_size, dose_per_tilt, angle_per_tilt)
    check_ctf_images(source, n)
    n == 0 && return nothing
    vol = VolumeView(vec(volume), layout)
    r2 = interp isa Cubic ? Inf : clip_radius2(max_r2)
    nacc = backprojection_threads(n, npix, stored_length(layout), interp)
    ui = Int(u)
    mode = prefetch_kind()
    work! = (acc, images) -> normal_images!(acc, vol, rotations, plane, interp, ui, r2, source, nv, images, mode)
    accumulate_images!(work!, vec(out), layout, n, nacc)
    return nothing
end

register_kernel("forward_model", forward_model_kernel!)
register_kernel("adjoint_forward_model", adjoint_forward_model_kernel!)
register_kernel("compute_AtAv", compute_AtAv_kernel!)
