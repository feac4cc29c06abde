# Centered Fourier transforms, zero padding and translations under Julia names, on the
# kernels of fourier.jl and geometry.jl (the ones recovar_jl's Python functions call).

function transform_dims(x::AbstractArray, dims)
    r = dims isa Integer ? (Int(dims):Int(dims)) : dims
    r isa AbstractUnitRange || throw(ArgumentError("dims must be a range of consecutive dimensions, got $dims"))
    (1 <= first(r) <= last(r) <= ndims(x) && length(r) <= 3) ||
        throw(ArgumentError("dims must be at most 3 consecutive dimensions of a $(ndims(x))-d array, got $dims"))
    return first(r), last(r)
end

default_dims(x::AbstractArray) = 1:min(ndims(x), 3)

# recovar's default ("backward") normalisation: none forward, 1/N inverse
transform_length(x::AbstractArray, a::Int, b::Int) = prod(size(x, d) for d in a:b)

complex_float(::Type{T}) where {T<:Union{Float32,Float64}} = T
complex_float(::Type{Complex{T}}) where {T<:Union{Float32,Float64}} = T
complex_float(::Type{T}) where {T} = throw(ArgumentError("element type must be Float32, Float64 or their complex types, got $T"))

"""
    centered_fft(x, dims=1:min(ndims(x), 3))
    centered_ifft(x, dims=…)

Centered DFT over `dims` (at most three consecutive dimensions; the others are a batch):
`fftshift(fft(fftshift(x)))` as recovar, so frequency 0 sits at index `n÷2 + 1`; the
real-space origin is index `n÷2 + 1` for even `n` and `n÷2 + 2` for odd `n`
(docs/conventions.md §1). Unnormalised forward, `1/N` inverse (N the transformed length).
Returns a new complex array; real or complex input. Threaded.

# Example
```julia
spectra = centered_fft(rand(Float32, 64, 64, 10), 1:2)    # ten 64² images, ComplexF32
```
"""
function centered_fft(x::AbstractArray, dims=default_dims(x))
    T = complex_float(eltype(x))
    a, b = transform_dims(x, dims)
    out = Array{Complex{T}}(undef, size(x))
    return centered_fft!(out, Array(x), a, b, -1, 1.0)
end

function centered_ifft(x::AbstractArray, dims=default_dims(x))
    T = complex_float(eltype(x))
    a, b = transform_dims(x, dims)
    out = Array{Complex{T}}(undef, size(x))
    return centered_fft!(out, Array(x), a, b, 1, 1.0 / transform_length(x, a, b))
end

@doc (@doc centered_fft) centered_ifft

"""
    centered_rfft(x, dims=1:min(ndims(x), 3))

Half spectrum of the real array `x`: the centered DFT over `dims`, stored rfft-packed along
the first of them ([`HalfGrid`](@ref): `n÷2 + 1` entries). Unnormalised.
"""
function centered_rfft(x::AbstractArray{<:Real}, dims=default_dims(x))
    T = complex_float(eltype(x))
    a, b = transform_dims(x, dims)
    out = Array{Complex{T}}(undef, ntuple(d -> d == a ? size(x, d) ÷ 2 + 1 : size(x, d), ndims(x)))
    return centered_rfft!(out, Array(x), a, b, 1.0)
end

"""
    centered_irfft(x, n, dims=1:min(ndims(x), 3))

Inverse of [`centered_rfft`](@ref): the real array whose half spectrum is `x`, with `n`
samples along the packed dimension `first(dims)` (`size(x, first(dims)) == n÷2 + 1`);
normalised by `1/N`.
"""
function centered_irfft(x::AbstractArray{<:Complex}, n::Integer, dims=default_dims(x))
    T = complex_float(eltype(x))
    a, b = transform_dims(x, dims)
    size(x, a) == n ÷ 2 + 1 ||
        throw(DimensionMismatch("centered_irfft: dimension $a has $(size(x, a)) entries, n = $n needs $(n ÷ 2 + 1)"))
    dims_out = ntuple(d -> d == a ? Int(n) : size(x, d), ndims(x))
    out = Array{T}(undef, dims_out)
    return centered_irfft!(out, Array(x), a, b, 1.0 / prod(dims_out[d] for d in a:b))
end

"""
    zero_pad(x, padding, dims=1:min(ndims(x), 3))

`x` inside zeros grown by `padding` along each of `dims`, at offset `padding ÷ 2` (recovar's
spatial padding); [`crop`](@ref) undoes it.
"""
function zero_pad(x::AbstractArray, padding::Integer, dims=default_dims(x))
    padding >= 0 || throw(ArgumentError("padding must be non-negative, got $padding"))
    a, b = transform_dims(x, dims)
    grown = ntuple(d -> a <= d <= b ? size(x, d) + padding : size(x, d), ndims(x))
    out = zeros(eltype(x), grown)
    o = padding ÷ 2
    out[ntuple(d -> a <= d <= b ? (o+1:o+size(x, d)) : Colon(), ndims(x))...] = x
    return out
end

"""
    crop(x, padding, dims=1:min(ndims(x), 3))

The inverse of [`zero_pad`](@ref): indices `padding÷2 + 1 : n − padding÷2` along each of
`dims` (a copy; for an odd `padding` one sample longer than the original, as recovar:
docs/conventions.md §12).
"""
function crop(x::AbstractArray, padding::Integer, dims=default_dims(x))
    padding >= 0 || throw(ArgumentError("padding must be non-negative, got $padding"))
    a, b = transform_dims(x, dims)
    o = padding ÷ 2
    all(size(x, d) > 2o for d in a:b) || throw(ArgumentError("padding $padding is too large for size $(size(x))"))
    return x[ntuple(d -> a <= d <= b ? (o+1:size(x, d)-o) : Colon(), ndims(x))...]
end

"""
    translate(images, shifts, layout=FullGrid())

Centered image spectra `images` (`(width, side, n)` stored in `layout`) of images shifted by
`shifts[:, i]` pixels (x then y): each coefficient times `exp(−2πi (kx·tx + ky·ty)/side)`.
Returns a complex array of the same size.
"""
function translate(images::AbstractArray{<:Number,3}, shifts::AbstractMatrix{<:Real}, layout::GridLayout=FullGrid())
    width, side, n = size(images)
    width == stored_width(layout, side) ||
        throw(DimensionMismatch("images of $width × $side are not square images stored in $layout"))
    size(shifts) == (2, n) || throw(DimensionMismatch("shifts must be (2, $n), got $(size(shifts))"))
    T = complex_float(eltype(images))
    out = Array{Complex{T}}(undef, width * side, 1, n)
    translate_images!(out, reshape(Array(images), width * side, n), reshape(Array(shifts), 2, 1, n), side,
                      is_half(layout) ? 1 : 0)
    return reshape(out, width, side, n)
end

"""
    padded_spectra(images, shifts, padded_side; mask=nothing)

Centred half spectra of the real images `images` (`(side, side, n)`, x then y) zero-padded
to `padded_side`² (image at offset `padded_side÷2 − side÷2`, its index `side÷2 + 1` at
`padded_side÷2 + 1`), multiplied by `mask` (`(side, side)`) first and shifted by
`shifts[:, i]` pixels: `(padded_side÷2 + 1, padded_side, n)` complex, in one pass per image.
Equals `translate(centered_rfft(zero_pad(images .* mask, padded_side − side, 1:2), 1:2),
shifts, HalfGrid())` up to rounding when `padded_side − side` is even.

# Example
```julia
spectra = padded_spectra(rand(Float32, 64, 64, 10), zeros(2, 10), 128)   # (65, 128, 10)
```
"""
function padded_spectra(images::AbstractArray{<:Real,3}, shifts::AbstractMatrix{<:Real}, padded_side::Integer;
                        mask::Union{Nothing,AbstractMatrix{<:Real}}=nothing)
    T = complex_float(eltype(images))
    out = Array{Complex{T}}(undef, padded_side ÷ 2 + 1, padded_side, size(images, 3))
    return padded_spectra!(out, images, mask, shifts)
end
