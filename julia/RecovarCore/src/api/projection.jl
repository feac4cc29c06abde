# The projection plan: Fourier-slice projection of a volume's centered spectrum as a linear
# operator `P` (`P * v`, `mul!(images, P, v)`) with its exact adjoint `P'` (backprojection).
# Built on the engine (src/engine/) through the same calls the Python kernels make.

"Integer order of recovar (0, 1, 3), as the kernels take it."
order_code(::Nearest) = 0
order_code(::Linear) = 1
order_code(::Cubic) = 3

"""
    kernel_rotations(rotations, T) -> Array{T,3}

Poses in the engine's layout from `rotations`: a vector of 3×3 matrices or a `(3, 3, n)`
array with `rotations[:, :, i]` the rotation `Rᵢ`. The engine holds `Rᵢ` transposed
(the memory of NumPy's `(n, 3, 3)` stack).
"""
function kernel_rotations(rotations::AbstractArray{<:Real,3}, ::Type{T}) where {T<:AbstractFloat}
    (size(rotations, 1) == 3 && size(rotations, 2) == 3) ||
        throw(ArgumentError("rotations must be (3, 3, n), got size $(size(rotations))"))
    all(isfinite, rotations) || throw(ArgumentError("rotations contain NaN or Inf"))
    return T.(permutedims(rotations, (2, 1, 3)))
end

function kernel_rotations(rotations::AbstractVector{<:AbstractMatrix{<:Real}}, ::Type{T}) where {T<:AbstractFloat}
    out = Array{T,3}(undef, 3, 3, length(rotations))
    for (i, R) in enumerate(rotations)
        size(R) == (3, 3) || throw(ArgumentError("rotations[$i] must be 3×3, got size $(size(R))"))
        out[:, :, i] = transpose(R)
    end
    all(isfinite, out) || throw(ArgumentError("rotations contain NaN or Inf"))
    return out
end

"""
    ProjectionPlan(order, volume_size, rotations; image_size, volume_layout=FullGrid(),
                   image_layout=FullGrid(), max_r, upsampling, coordinate_type=Float32)

Projection of centered 3-D spectra onto the central planes of `n` poses.

- `order`: `Nearest()`, `Linear()` or `Cubic()` (periodic cubic B-spline of the volume:
  the plan computes the spline coefficients itself).
- `volume_size = (nx, ny, nz)`: the full grid. A volume is a `(nx, ny, nz)` array
  (`FullGrid()`) or `(nx÷2+1, ny, nz)` (`HalfGrid()`, rfft-packed along x).
- `rotations`: `n` poses, a vector of 3×3 matrices or a `(3, 3, n)` array; the plane
  frequency `(kx, ky)` samples the volume at the grid index `(i0, i1, i2) = u·(kx, ky, 0)·R +
  center` (a row vector times `R`; `i0` indexes z, `i2` x; docs/conventions.md).
- `image_size = (wx, hy)` (default `(nx, ny)`): one full image; images are
  `(wx, hy, n)` arrays (`FullGrid()`) or `(wx÷2+1, hy, n)` (`HalfGrid()`).
- `max_r` (default `hy÷2 - 1`, `nothing`: none): pixels with `kx² + ky² > max_r²` are zero
  (nearest and linear only).
- `upsampling` `u` (default `max(1, nz ÷ hy)`): plane frequencies are scaled by `u`.
- `coordinate_type`: precision of the grid points (Float32 as recovar; Float64 for exact
  tests). Linear and cubic images have element type `promote_type(eltype(v), coordinate_type)`.

`P * v` and `mul!(images, P, v)` project; `P' * images` and `mul!(v, P', images)` are the
exact adjoint for the real inner product `real(dot(x, y))` on the stored arrays (for full
grids, the complex-linear adjoint). Threaded over images.

# Example
```julia
P = ProjectionPlan(Linear(), (32, 32, 32), random_rotations(10))
images = P * randn(ComplexF32, 32, 32, 32)      # (32, 32, 10)
back = P' * images                              # (32, 32, 32)
```
"""
struct ProjectionPlan{O,VL<:GridLayout,IL<:GridLayout,T<:AbstractFloat}
    order::O
    volume_size::NTuple{3,Int}
    image_size::NTuple{2,Int}
    volume_layout::VL
    image_layout::IL
    rotations::Array{T,3}
    max_r2::Float64
    upsampling::Int
end

function ProjectionPlan(order::Union{Nearest,Linear,Cubic}, volume_size::NTuple{3,Integer}, rotations;
                        image_size::NTuple{2,Integer}=(volume_size[1], volume_size[2]),
                        volume_layout::GridLayout=FullGrid(), image_layout::GridLayout=FullGrid(),
                        max_r::Union{Nothing,Real}=image_size[2] ÷ 2 - 1,
                        upsampling::Union{Nothing,Integer}=nothing,
                        coordinate_type::Type{<:Union{Float32,Float64}}=Float32)
    all(>(0), volume_size) || throw(ArgumentError("volume_size must be positive, got $volume_size"))
    all(>(0), image_size) || throw(ArgumentError("image_size must be positive, got $image_size"))
    upsampling = upsampling === nothing ? max(1, volume_size[3] ÷ image_size[2]) : upsampling
    upsampling > 0 || throw(ArgumentError("upsampling must be positive, got $upsampling"))
    max_r === nothing || !isnan(max_r) || throw(ArgumentError("max_r must not be NaN"))
    rot = kernel_rotations(rotations, coordinate_type)
    # as the Python path: cubic never clips, `nothing` or Inf means no clipping
    r2 = (max_r === nothing || !clips(order) || isinf(max_r)) ? -1.0 : Float64(max_r)^2
    return ProjectionPlan(order, Int.(volume_size), Int.(image_size), volume_layout, image_layout, rot, r2,
                          Int(upsampling))
end

"Number of poses of a plan."
npose(P::ProjectionPlan) = size(P.rotations, 3)

"Size of one volume stored in the plan's volume layout (Julia order)."
volume_dims(P::ProjectionPlan) = (stored_width(P.volume_layout, P.volume_size[1]), P.volume_size[2], P.volume_size[3])

"Size of the image stack stored in the plan's image layout (Julia order)."
image_dims(P::ProjectionPlan) = (stored_width(P.image_layout, P.image_size[1]), P.image_size[2], npose(P))

Base.size(P::ProjectionPlan) = (prod(image_dims(P)), prod(volume_dims(P)))

"The engine's layout of the plan's volumes (`FullVolume`/`HalfVolume`, NumPy order sizes)."
engine_layout(P::ProjectionPlan) =
    volume_layout(is_half(P.volume_layout) ? 1 : 0, P.volume_size[3], P.volume_size[2], P.volume_size[1])

"The engine's image plane of the plan."
engine_plane(P::ProjectionPlan) = image_plane(P.image_size[2], P.image_size[1], is_half(P.image_layout) ? 1 : 0)

"Element type of `P * v` for a volume of element type `T`."
projection_eltype(P::ProjectionPlan, ::Type{T}) where {T} = projection_eltype(P.order, T, eltype(P.rotations))

function check_dims(what::String, x::AbstractArray, dims::Tuple)
    size(x) == dims || throw(DimensionMismatch("$what must be of size $dims, got $(size(x))"))
    return nothing
end

"""
    expand_half_volume(h, layout::HalfVolume) -> Vector

The full centered volume (flat, NumPy order) whose rfft-packed half is `h`: negative
kz read as conjugates of stored entries (`read_voxel`).
"""
function expand_half_volume(h::AbstractVector{T}, layout::HalfVolume) where {T}
    v = VolumeView(h, layout)
    full = Vector{T}(undef, layout.n0 * layout.n1 * layout.n2)
    k = 0
    for i0 in 0:layout.n0-1, i1 in 0:layout.n1-1, i2 in 0:layout.n2-1
        k += 1
        @inbounds full[k] = read_voxel(v, i0, i1, i2)
    end
    return full
end

"""
    cubic_coefficients(P, volume) -> Vector

Periodic cubic spline coefficients of `volume` on the full grid (flat; a half volume is
expanded first): what the cubic engine samples.
"""
function cubic_coefficients(P::ProjectionPlan, volume::AbstractArray)
    layout = engine_layout(P)
    flat = vec(volume)
    full = layout isa HalfVolume ? expand_half_volume(flat, layout) : copy(flat)
    spline_coefficients!(reshape(full, layout.n2, layout.n1, layout.n0))
    return full
end

function LinearAlgebra.mul!(images::AbstractArray, P::ProjectionPlan, volume::AbstractArray)
    check_dims("volume", volume, volume_dims(P))
    check_dims("images", images, image_dims(P))
    eltype(images) == projection_eltype(P, eltype(volume)) ||
        throw(ArgumentError("images must have element type $(projection_eltype(P, eltype(volume))), got $(eltype(images))"))
    n0, n1, n2 = P.volume_size[3], P.volume_size[2], P.volume_size[1]
    h, w = P.image_size[2], P.image_size[1]
    hi = is_half(P.image_layout) ? 1 : 0
    if samples_coefficients(P.order)
        coefficients = cubic_coefficients(P, volume)
        slice_volume_kernel!(images, reshape(coefficients, :, 1), P.rotations, 3, 0, hi, n0, n1, n2, h, w, -1.0,
                             P.upsampling)
    else
        hv = is_half(P.volume_layout) ? 1 : 0
        slice_volume_kernel!(images, reshape(volume, :, 1), P.rotations, order_code(P.order), hv, hi, n0, n1, n2,
                             h, w, P.max_r2, P.upsampling)
    end
    return images
end

function Base.:*(P::ProjectionPlan, volume::AbstractArray)
    images = zeros(projection_eltype(P, eltype(volume)), image_dims(P))
    return mul!(images, P, volume)
end

"""
    AdjointProjectionPlan

`P'` of a [`ProjectionPlan`](@ref): backprojection, `mul!(volume, P', images)` or
`P' * images`.
"""
struct AdjointProjectionPlan{P<:ProjectionPlan}
    parent::P
end

Base.adjoint(P::ProjectionPlan) = AdjointProjectionPlan(P)
Base.adjoint(A::AdjointProjectionPlan) = A.parent
Base.size(A::AdjointProjectionPlan) = reverse(size(A.parent))

function LinearAlgebra.mul!(volume::AbstractArray, A::AdjointProjectionPlan, images::AbstractArray)
    P = A.parent
    check_dims("volume", volume, volume_dims(P))
    check_dims("images", images, image_dims(P))
    volume isa Array || throw(ArgumentError("the backprojected volume must be an Array, got $(typeof(volume))"))
    fill!(volume, zero(eltype(volume)))
    r2 = clip_radius2(P.order, P.max_r2)
    # packed pixels only: the exact adjoint of `P` on the stored arrays
    adjoint_slice_volumes!(reshape(volume, :, 1), vec(images), P.rotations, engine_plane(P), P.order,
                           engine_layout(P), P.upsampling, r2, false)
    return volume
end

function Base.:*(A::AdjointProjectionPlan, images::AbstractArray)
    volume = zeros(eltype(images), volume_dims(A.parent))
    return mul!(volume, A, images)
end
