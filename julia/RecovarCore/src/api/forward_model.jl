# The forward model of cryo-EM images: A v = T(C ⊙ P v) (projection P, CTF C, translations
# T), its adjoint and the normal operator AᵀΣ⁻¹A, on the fused forward kernels (forward.jl).

"""
    ForwardModel(plan; ctf=nothing, pixel_size=1, mode=SPA(), translations=nothing)

`A v = T(C ⊙ (P v))` for a [`ProjectionPlan`](@ref) `P` with square images: `C` the CTF
of each image (`ctf`: a vector of [`CTFParams`](@ref), one per pose, evaluated in `mode` on
pixels of `pixel_size` Å; `nothing`: no CTF), `T` the translation of image i by
`translations[:, i]` pixels (a `(2, n)` matrix, x then y; `nothing`: none).

`A * v`, `mul!(images, A, v)`; `A' * images`, `mul!(v, A', images)` (the exact adjoint
for `real(dot(x, y))`); [`normal`](@ref)`(A, v, σ²)` = AᵀΣ⁻¹A v. Cubic models interpolate `v`
(the spline coefficients are computed inside, as in `P`).

# Example
```julia
P = ProjectionPlan(Linear(), (32, 32, 32), random_rotations(4))
params = [CTFParams(defocus_u=10000.0 + 1000i) for i in 1:4]
A = ForwardModel(P; ctf=params, pixel_size=3.0)
y = A * randn(ComplexF32, 32, 32, 32)                   # (32, 32, 4)
```
"""
struct ForwardModel{P<:ProjectionPlan,M<:CTFMode}
    plan::P
    params::Matrix{Float64}
    has_ctf::Bool
    mode::M
    pixel_size::Float64
    translations::Union{Nothing,Array{Float64,3}}
end

function ForwardModel(plan::ProjectionPlan; ctf::Union{Nothing,AbstractVector{CTFParams}}=nothing,
                      pixel_size::Real=1.0, mode::CTFMode=SPA(),
                      translations::Union{Nothing,AbstractMatrix{<:Real}}=nothing)
    plan.image_size[1] == plan.image_size[2] ||
        throw(ArgumentError("ForwardModel needs square images, got image_size $(plan.image_size)"))
    (pixel_size > 0 && isfinite(pixel_size)) ||
        throw(ArgumentError("pixel_size must be a positive number of Å, got $pixel_size"))
    n = npose(plan)
    ctf === nothing || length(ctf) == n ||
        throw(DimensionMismatch("ctf has $(length(ctf)) parameter sets for $n poses"))
    forward_codes(mode)   # refuses modes the forward kernels do not evaluate
    shifts = nothing
    if translations !== nothing
        size(translations) == (2, n) ||
            throw(DimensionMismatch("translations must be (2, $n), got $(size(translations))"))
        all(isfinite, translations) || throw(ArgumentError("translations contain NaN or Inf"))
        shifts = reshape(Float64.(translations), 2, 1, n)
    end
    params = ctf === nothing ? zeros(11, 0) : parameter_matrix(ctf, mode)
    return ForwardModel(plan, params, ctf !== nothing, mode, Float64(pixel_size), shifts)
end

"The forward kernels' CTF arguments `(kind, data, dose_per_tilt, angle_per_tilt)`."
function ctf_arguments(A::ForwardModel)
    A.has_ctf || return (CTF_NONE, zeros(Float32, 0, 0), 0.0, 0.0)
    kind, dose_per_tilt, angle_per_tilt = forward_codes(A.mode)
    return (kind, A.params, dose_per_tilt, angle_per_tilt)
end

Base.size(A::ForwardModel) = size(A.plan)

"Translate the stack `images` in place by `shifts` (sign −1: by −shifts, the adjoint)."
function translate_stack!(images::AbstractArray{<:Complex,3}, A::ForwardModel, sign::Int)
    A.translations === nothing && return images
    P = A.plan
    p = size(images, 1) * size(images, 2)
    shifted = similar(images, p, 1, size(images, 3))
    translate_images!(shifted, reshape(images, p, size(images, 3)), sign * A.translations, P.image_size[1],
                      is_half(P.image_layout) ? 1 : 0)
    copyto!(images, shifted)
    return images
end

function LinearAlgebra.mul!(images::AbstractArray, A::ForwardModel, volume::AbstractArray)
    P = A.plan
    check_dims("volume", volume, volume_dims(P))
    check_dims("images", images, image_dims(P))
    kind, data, dose_per_tilt, angle_per_tilt = ctf_arguments(A)
    n0, n1, n2 = P.volume_size[3], P.volume_size[2], P.volume_size[1]
    h = P.image_size[2]
    hi = is_half(P.image_layout) ? 1 : 0
    if samples_coefficients(P.order)
        forward_model_kernel!(images, cubic_coefficients(P, volume), P.rotations, kind, data, A.pixel_size,
                              dose_per_tilt, angle_per_tilt, 3, 0, hi, n0, n1, n2, h, h, -1.0, P.upsampling)
    else
        forward_model_kernel!(images, volume, P.rotations, kind, data, A.pixel_size, dose_per_tilt, angle_per_tilt,
                              order_code(P.order), is_half(P.volume_layout) ? 1 : 0, hi, n0, n1, n2, h, h,
                              P.max_r2, P.upsampling)
    end
    A.translations === nothing || translate_stack!(images, A, 1)
    return images
end

function Base.:*(A::ForwardModel, volume::AbstractArray)
    T = projection_eltype(A.plan, eltype(volume))
    T = A.translations === nothing ? T : complex(T)
    return mul!(zeros(T, image_dims(A.plan)), A, volume)
end

"`A'` of a [`ForwardModel`](@ref): `mul!(volume, A', images)`, `A' * images`."
struct AdjointForwardModel{F<:ForwardModel}
    parent::F
end

Base.adjoint(A::ForwardModel) = AdjointForwardModel(A)
Base.adjoint(B::AdjointForwardModel) = B.parent
Base.size(B::AdjointForwardModel) = reverse(size(B.parent))

function LinearAlgebra.mul!(volume::AbstractArray, B::AdjointForwardModel, images::AbstractArray)
    A = B.parent
    P = A.plan
    check_dims("volume", volume, volume_dims(P))
    check_dims("images", images, image_dims(P))
    volume isa Array || throw(ArgumentError("the backprojected volume must be an Array, got $(typeof(volume))"))
    eltype(images) <: Complex && !(eltype(volume) <: Complex) &&
        throw(ArgumentError("complex images need a complex volume, got $(eltype(volume))"))
    shifted = A.translations === nothing ? images : translate_stack!(copy(images), A, -1)
    kind, data, dose_per_tilt, angle_per_tilt = ctf_arguments(A)
    plane = engine_plane(P)
    fill!(volume, zero(eltype(volume)))
    source = ctf_source(kind, data, plane, A.pixel_size, dose_per_tilt, angle_per_tilt)
    r2 = clip_radius2(P.order, P.max_r2)
    # packed pixels only (the exact adjoint); cubic: the adjoint of slicing the coefficients of v
    backproject_ctf!(vec(volume), vec(shifted), P.rotations, plane, P.order, engine_layout(P), P.upsampling, r2,
                     false, source, true)
    return volume
end

function Base.:*(B::AdjointForwardModel, images::AbstractArray)
    return mul!(zeros(eltype(images), volume_dims(B.parent.plan)), B, images)
end

"""
    normal(A::ForwardModel, v, noise_variance=1) -> AᵀΣ⁻¹A v

The normal operator of the forward model for a noise variance σ² (a number, a vector of one
value per image, or an array of `image_dims(A.plan)` or of one image's size), without
forming any image. Translations cancel (they are unitary). The fused kernel needs a full
volume and full images; other layouts compute `A' * ((A * v) ./ σ²)`.
"""
function normal(A::ForwardModel, volume::AbstractArray, noise_variance=1.0)
    P = A.plan
    check_dims("volume", volume, volume_dims(P))
    width, side, n = image_dims(P)
    npix = width * side
    σ2, noise_images, noise_pixels = noise_array(noise_variance, width, side, n)
    if is_half(P.volume_layout) || is_half(P.image_layout)
        images = A * volume
        images ./= reshape(σ2, noise_pixels == 1 ? 1 : width, noise_pixels == 1 ? 1 : side, noise_images)
        return A' * images
    end
    kind, data, dose_per_tilt, angle_per_tilt = ctf_arguments(A)
    n0, n1, n2 = P.volume_size[3], P.volume_size[2], P.volume_size[1]
    T = projection_eltype(P, eltype(volume))
    out = zeros(T, volume_dims(P))
    source_volume = samples_coefficients(P.order) ? cubic_coefficients(P, volume) : convert(Array{T}, volume)
    compute_AtAv_kernel!(out, convert(Array{T}, source_volume), P.rotations, kind, data, A.pixel_size,
                         dose_per_tilt, angle_per_tilt, σ2, noise_images, noise_pixels, order_code(P.order),
                         n0, n1, n2, side, P.max_r2, P.upsampling)
    # cubic: the coefficient operator is self-adjoint, so Aᵀ… = C(kernel(C v))
    samples_coefficients(P.order) && spline_coefficients!(out)
    return out
end

"σ² as the AᵀAv kernel takes it: `(values, noise_images, noise_pixels)`."
function noise_array(noise_variance, width::Int, side::Int, n::Int)
    npix = width * side
    if noise_variance isa Real
        σ2 = fill(Float64(noise_variance), 1, 1)
    elseif noise_variance isa AbstractVector && length(noise_variance) == n
        σ2 = reshape(Float64.(noise_variance), 1, n)
    elseif noise_variance isa AbstractArray && size(noise_variance) == (width, side)
        σ2 = reshape(Float64.(noise_variance), npix, 1)
    elseif noise_variance isa AbstractArray && size(noise_variance) == (width, side, n)
        σ2 = reshape(Float64.(noise_variance), npix, n)
    else
        throw(DimensionMismatch("noise_variance must be a number, $n values, a ($width, $side) image or " *
                                "($width, $side, $n) images; got $(summary(noise_variance))"))
    end
    all(x -> x > 0 && isfinite(x), σ2) || throw(ArgumentError("noise_variance must be positive and finite"))
    return σ2, size(σ2, 2), size(σ2, 1)
end
