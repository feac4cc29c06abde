# Padded image spectra: the reconstruct job's FFT stage in one pass per image. Real images
# (D × D) → centred half spectra of the images zero-padded to P × P, each translated by its
# shift: `translate(centered_rfft(zero_pad(image · mask)), t)` (docs/conventions.md §1, §2,
# §7) without the padded stack, the second pass of the translation or the centring gather.
#
# Why it is cheaper. The padded image has only D non-zero rows, so the real transform along
# x (the packed axis) runs on those D rows alone; the complex transform along y then runs on
# all P÷2+1 columns of a buffer whose other P − D rows were zeroed once. Centring needs no
# permutation: along one axis of length P with s = P÷2 the centred DFT is
#     C[k] = Σ_b x[b] e^{−2πi (k−s)(b+s)/P} = e^{−2πi s(k−s)/P} · DFT(x[b] e^{+2πi s b/P})[k],
# a phase on the input rows (±1 for even P, folded into the copy of the image) and a phase on
# the output rows; the packed axis only has its output phase e^{−2πi s kx/P}. The translation
# phase is separable (one factor per column, one per row), so every output phase is a product
# column factor × row factor, applied in one pass right after the y transform.

"""
    SpectrumPhases

Per-size constants of `padded_spectra!` (Float64): `column` (P÷2+1) and `row` (P) output
centring phases, `input_row` (D) input phases of the image rows (padded rows o … o+D−1),
`column_lattice`/`row_lattice` the translation lattices (cycles/pixel, `lattice_axis`).
"""
struct SpectrumPhases
    column::Vector{ComplexF64}
    row::Vector{ComplexF64}
    input_row::Vector{ComplexF64}
    column_lattice::Vector{Float64}
    row_lattice::Vector{Float64}
end

"Row offset of a D-sample image in a P-sample padding: P÷2 − D÷2 (keeps index D÷2 at P÷2)."
padding_offset(image_side::Integer, padded_side::Integer) = padded_side ÷ 2 - image_side ÷ 2

function SpectrumPhases(image_side::Int, padded_side::Int)
    P, s = padded_side, padded_side ÷ 2
    o = padding_offset(image_side, padded_side)
    lattice = lattice_axis(P)
    return SpectrumPhases(packed_forward_map(Float64, P).factor,
                          [unit_phase(Float64, -s * (k - s), P) for k in 0:P-1],
                          [unit_phase(Float64, s * (o + b), P) for b in 0:image_side-1],
                          lattice[packed_columns(P)], lattice)
end

"""
    SpectrumScratch{T}(image_side, padded_side)

One thread's buffers: `rows` (P, D) real, the image rows with a zero border along x;
`half` (P÷2+1, P) complex, after the x transform, zero outside the image rows; the image's
output phases `column_phase` (P÷2+1) and `row_phase` (P). The borders are zeroed once here
and never written again (FFTW's out-of-place r2c and c2c keep their input).
"""
struct SpectrumScratch{T}
    rows::Matrix{T}
    half::Matrix{Complex{T}}
    column_phase::Vector{Complex{T}}
    row_phase::Vector{Complex{T}}
end

SpectrumScratch{T}(image_side::Int, padded_side::Int) where {T} =
    SpectrumScratch{T}(zeros(T, padded_side, image_side), zeros(Complex{T}, padded_side ÷ 2 + 1, padded_side),
                       Vector{Complex{T}}(undef, padded_side ÷ 2 + 1), Vector{Complex{T}}(undef, padded_side))

# FFTW guru layouts (row-major lists, docs of fftw.jl): the x transform of the D image rows of
# `rows` into rows o+1 … o+D of `half`, then the y transform of all columns of `half`.
x_transform_layout(D::Int, P::Int) = ([IODim(P, 1, 1)], [IODim(D, P, P ÷ 2 + 1)])
y_transform_layout(P::Int) = ([IODim(P, P ÷ 2 + 1, P ÷ 2 + 1)], [IODim(P ÷ 2 + 1, 1, 1)])

"""
    padded_spectra!(out, images, mask, translations)

Centred, translated half spectra of zero-padded real images. Julia shapes (x, y order):
`images` (D, D, n) real, `mask` (D, D) real or `nothing` (multiplies every image),
`translations` (2, n) pixels (x, y; content moves by +t), `out` (P÷2+1, P, n) complex with
P ≥ D, P÷2+1 rfft-packed x frequencies 0 … P÷2 and P centred y frequencies −P÷2 … .
The image sits at offset P÷2 − D÷2 along both axes of the P × P zero padding. Equal, up to
rounding, to `translate(centered_rfft(zero_pad(images .* mask)), translations, HalfGrid())`
(docs/conventions.md §1, §2, §7). Unnormalised; threaded over images.
"""
function padded_spectra!(out::AbstractArray{Complex{T},3}, images::AbstractArray{<:Real,3},
                         mask::Union{Nothing,AbstractMatrix{<:Real}}, translations::AbstractMatrix{<:Real}) where {T<:Union{Float32,Float64}}
    D, D2, n = size(images)
    h, P, n_out = size(out)
    D == D2 || throw(DimensionMismatch("padded_spectra!: images must be square, got $D × $D2"))
    D >= 1 || throw(ArgumentError("padded_spectra!: images must have at least one pixel"))
    P >= D || throw(ArgumentError("padded_spectra!: padded side $P is smaller than the image side $D"))
    (h == P ÷ 2 + 1 && n_out == n) ||
        throw(DimensionMismatch("padded_spectra!: out is $(size(out)), expected ($(P ÷ 2 + 1), $P, $n)"))
    mask === nothing || size(mask) == (D, D) ||
        throw(DimensionMismatch("padded_spectra!: mask is $(size(mask)), expected ($D, $D)"))
    size(translations) == (2, n) ||
        throw(DimensionMismatch("padded_spectra!: translations are $(size(translations)), expected (2, $n)"))
    n == 0 && return out
    out isa DenseArray || throw(ArgumentError("padded_spectra!: out must be a dense array"))
    phases = SpectrumPhases(D, P)
    plan_padded_spectra(out, D, P)
    on_demand_blocks(n) do blocks
        scratch = SpectrumScratch{T}(D, P)
        for block in blocks, i in block
            padded_spectrum!(out, i, images, mask, translations, phases, scratch)
        end
    end
    return out
end

# FFTW_MEASURE plans made before the threads start (undisturbed timings): one for the x
# transform, one per output alignment for the y transform (two when an image's spectrum is an
# odd number of elements).
function plan_padded_spectra(out::DenseArray{Complex{T},3}, D::Int, P::Int) where {T}
    scratch = SpectrumScratch{T}(D, P)
    x_dims, x_many = x_transform_layout(D, P)
    y_dims, y_many = y_transform_layout(P)
    o = padding_offset(D, P)
    GC.@preserve scratch out begin
        fftw_plan(T, :r2c, x_dims, x_many, FFTW_FORWARD, pointer(scratch.rows), pointer(scratch.half, o * size(out, 1) + 1))
        for i in 1:min(2, size(out, 3))
            fftw_plan(T, :c2c, y_dims, y_many, FFTW_FORWARD, pointer(scratch.half), pointer(out, (i - 1) * length(scratch.half) + 1))
        end
    end
    return nothing
end

function padded_spectrum!(out::DenseArray{Complex{T},3}, i::Int, images::AbstractArray{<:Real,3}, mask,
                          translations::AbstractMatrix{<:Real}, phases::SpectrumPhases,
                          scratch::SpectrumScratch{T}) where {T}
    D = size(images, 1)
    h, P, _ = size(out)
    o = padding_offset(D, P)
    rows, half = scratch.rows, scratch.half
    fold_sign = iseven(P)     # input row phases are ±1: folded into the copy
    copy_image_rows!(rows, images, i, mask, phases.input_row, o, fold_sign)
    x_dims, x_many = x_transform_layout(D, P)
    y_dims, y_many = y_transform_layout(P)
    GC.@preserve rows half out begin
        pr, ph = pointer(rows), pointer(half, o * h + 1)
        execute_r2c(T, fftw_plan(T, :r2c, x_dims, x_many, FFTW_FORWARD, pr, ph), pr, ph)
        fold_sign || scale_rows!(half, o, phases.input_row)
        ph, po = pointer(half), pointer(out, (i - 1) * h * P + 1)
        execute_c2c(T, fftw_plan(T, :c2c, y_dims, y_many, FFTW_FORWARD, ph, po), ph, po)
    end
    output_phases!(scratch, phases, Float64(translations[1, i]), Float64(translations[2, i]))
    apply_phases!(out, i, scratch.column_phase, scratch.row_phase)
    return out
end

"rows[o+1 : o+D, b] = images[:, b, i] · mask[:, b] (· the real input phase of row b)."
function copy_image_rows!(rows::Matrix{T}, images, i::Int, mask, input_row::Vector{ComplexF64}, o::Int,
                          fold_sign::Bool) where {T}
    D = size(images, 1)
    @inbounds for b in 1:D
        sign = fold_sign ? T(real(input_row[b])) : one(T)
        if mask === nothing
            @simd for a in 1:D
                rows[o + a, b] = sign * T(images[a, b, i])
            end
        else
            @simd for a in 1:D
                rows[o + a, b] = sign * (T(images[a, b, i]) * T(mask[a, b]))
            end
        end
    end
    return rows
end

"half[:, o+b] *= input_row[b] (odd P: complex input phases, after the x transform)."
function scale_rows!(half::Matrix{Complex{T}}, o::Int, input_row::Vector{ComplexF64}) where {T}
    @inbounds for b in eachindex(input_row)
        f = Complex{T}(input_row[b])
        @simd for j in 1:size(half, 1)
            half[j, o + b] *= f
        end
    end
    return half
end

"One image's output phases: centring × translation (exp(−2πi (lx·t0 + ly·t1))), per column and per row."
function output_phases!(scratch::SpectrumScratch{T}, phases::SpectrumPhases, t0::Float64, t1::Float64) where {T}
    @inbounds for j in eachindex(scratch.column_phase)
        scratch.column_phase[j] = Complex{T}(phases.column[j] * cis_minus_2pi(phases.column_lattice[j] * t0))
    end
    @inbounds for k in eachindex(scratch.row_phase)
        scratch.row_phase[k] = Complex{T}(phases.row[k] * cis_minus_2pi(phases.row_lattice[k] * t1))
    end
    return scratch
end

"out[j, k, i] *= row_phase[k] · column_phase[j]."
function apply_phases!(out::DenseArray{Complex{T},3}, i::Int, column_phase::Vector{Complex{T}},
                       row_phase::Vector{Complex{T}}) where {T}
    h, P, _ = size(out)
    @inbounds for k in 1:P
        r = row_phase[k]
        base = h * ((k - 1) + P * (i - 1))
        @simd for j in 1:h
            out[base + j] = (r * column_phase[j]) * out[base + j]
        end
    end
    return out
end

"""
    padded_spectra_kernel!(out, images, mask, translations, padded_side)

C-ABI form of [`padded_spectra!`](@ref): NumPy `images` (n, D, D), `mask` (D, D) or an empty
array for none, `translations` (n, 2), `out` (n, P·(P÷2+1)) with P = `padded_side`
(Julia: dimensions reversed).
"""
function padded_spectra_kernel!(out::AbstractMatrix{<:Complex}, images::AbstractArray{<:Real,3}, mask::AbstractArray,
                                translations::AbstractMatrix{<:Real}, padded_side::Integer)
    P = Int(padded_side)
    P >= 1 && size(out, 1) == P * (P ÷ 2 + 1) ||
        throw(DimensionMismatch("padded_spectra: out has $(size(out, 1)) entries per image, P = $P needs $(P * (P ÷ 2 + 1))"))
    padded_spectra!(reshape(out, (P ÷ 2 + 1, P, size(out, 2))), images, isempty(mask) ? nothing : mask, translations)
    return nothing
end

register_kernel("padded_spectra", padded_spectra_kernel!)
