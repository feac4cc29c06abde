# Centered transforms (recovar's fourier_transform_utils): zero frequency at index n÷2.
# Forward: fftshift ∘ fft ∘ fftshift; inverse: ifftshift ∘ ifft ∘ ifftshift. Arrays are
# column-major, so the transformed axes are the first `ndims_transformed` dimensions and the
# remaining dimensions are batch; the rfft-packed axis is dimension 1 (NumPy's last axis).

fftshift_amounts(dims::Dims, k::Integer) = ntuple(d -> d <= k ? dims[d] ÷ 2 : 0, length(dims))
ifftshift_amounts(dims::Dims, k::Integer) = ntuple(d -> d <= k ? -(dims[d] ÷ 2) : 0, length(dims))

function scale!(x::AbstractArray, scale::Real)
    scale == 1 && return x
    s = convert(real(eltype(x)), scale)
    @inbounds for i in eachindex(x)
        x[i] *= s
    end
    return x
end

"""
    centered_fft!(dst, src, ndims_transformed, direction, scale)

Centered complex DFT over the first `ndims_transformed` dimensions of `src` (the rest are
batch), written to `dst`, multiplied by `scale`. `direction` -1: `fftshift(fft(fftshift(x)))`;
+1: `ifftshift(bfft(ifftshift(x)))` (unnormalised; `scale` carries the norm).
"""
function centered_fft!(dst::Array{Complex{T}}, src::Array{Complex{T}}, ndims_transformed::Integer,
                       direction::Integer, scale::Real) where {T<:Union{Float32,Float64}}
    size(dst) == size(src) || throw(DimensionMismatch("centered_fft!: dst $(size(dst)) vs src $(size(src))"))
    0 < ndims_transformed <= ndims(src) || throw(ArgumentError("centered_fft!: cannot transform $ndims_transformed axes of a $(ndims(src))-d array"))
    direction in (-1, 1) || throw(ArgumentError("centered_fft!: direction must be -1 or 1"))
    isempty(src) && return dst
    dims = size(src)
    n = dims[1:ndims_transformed]
    shift = direction == -1 ? fftshift_amounts : ifftshift_amounts
    work = similar(src)
    circshift!(work, src, shift(dims, ndims_transformed))
    fft_batched!(work, work, n, length(src) ÷ prod(n), direction)
    circshift!(dst, work, shift(dims, ndims_transformed))
    return scale!(dst, scale)
end

"""
    centered_rfft!(dst, src, ndims_transformed, scale)

Real-input centered DFT, half spectrum: `fftshift` all transformed axes, rfft (dimension 1
halved to n÷2+1), then `fftshift` every transformed axis except the packed one.
"""
function centered_rfft!(dst::Array{Complex{T}}, src::Array{T}, ndims_transformed::Integer,
                        scale::Real) where {T<:Union{Float32,Float64}}
    dims = size(src)
    0 < ndims_transformed <= ndims(src) || throw(ArgumentError("centered_rfft!: cannot transform $ndims_transformed axes of a $(ndims(src))-d array"))
    hdims = (dims[1] ÷ 2 + 1, Base.tail(dims)...)
    size(dst) == hdims || throw(DimensionMismatch("centered_rfft!: dst $(size(dst)), expected $hdims"))
    isempty(src) && return dst
    n = dims[1:ndims_transformed]
    shifted = similar(src)
    circshift!(shifted, src, fftshift_amounts(dims, ndims_transformed))
    half = similar(dst)
    rfft_batched!(half, shifted, n, length(src) ÷ prod(n))
    post = fftshift_amounts(hdims, ndims_transformed)
    circshift!(dst, half, (0, Base.tail(post)...))
    return scale!(dst, scale)
end

"""
    centered_irfft!(dst, src, ndims_transformed, scale)

Inverse of `centered_rfft!`: `ifftshift` the non-packed transformed axes, irfft to the real
shape of `dst`, then `ifftshift` every transformed axis. Unnormalised; `scale` carries the norm.
"""
function centered_irfft!(dst::Array{T}, src::Array{Complex{T}}, ndims_transformed::Integer,
                         scale::Real) where {T<:Union{Float32,Float64}}
    dims = size(dst)
    0 < ndims_transformed <= ndims(dst) || throw(ArgumentError("centered_irfft!: cannot transform $ndims_transformed axes of a $(ndims(dst))-d array"))
    hdims = (dims[1] ÷ 2 + 1, Base.tail(dims)...)
    size(src) == hdims || throw(DimensionMismatch("centered_irfft!: src $(size(src)), expected $hdims for output $dims"))
    isempty(dst) && return dst
    n = dims[1:ndims_transformed]
    pre = ifftshift_amounts(hdims, ndims_transformed)
    half = similar(src)
    circshift!(half, src, (0, Base.tail(pre)...))
    real_out = similar(dst)
    irfft_batched!(real_out, half, n, length(dst) ÷ prod(n))
    circshift!(dst, real_out, ifftshift_amounts(dims, ndims_transformed))
    return scale!(dst, scale)
end

register_kernel("centered_fft", centered_fft!)
register_kernel("centered_rfft", centered_rfft!)
register_kernel("centered_irfft", centered_irfft!)
