# C-ABI adapters of projection and backprojection: NumPy-shaped arguments and integer flags
# turned into layouts, planes and orders, then the engine (src/engine/).

function check_rotations(rotations::AbstractArray)
    (ndims(rotations) == 3 && size(rotations, 1) == 3 && size(rotations, 2) == 3) ||
        throw(ArgumentError("rotation_matrices must be (n, 3, 3), got Julia size $(size(rotations))"))
    eltype(rotations) <: AbstractFloat || throw(ArgumentError("rotation_matrices must be Float32 or Float64"))
    all(isfinite, rotations) || throw(ArgumentError("rotation_matrices contains NaN or Inf"))
    return nothing
end

function volume_layout(half_volume::Integer, n0::Integer, n1::Integer, n2::Integer)
    (n0 > 0 && n1 > 0 && n2 > 0) || throw(ArgumentError("volume_shape must be positive"))
    # the flat index arithmetic must not wrap around
    Base.Checked.checked_mul(Base.Checked.checked_mul(Int(n0), Int(n1)), Int(n2))
    return half_volume != 0 ? HalfVolume(n0, n1, n2) : FullVolume(n0, n1, n2)
end

function image_plane(h::Integer, w::Integer, half_image::Integer)
    (h > 0 && w > 0) || throw(ArgumentError("image_shape must be positive"))
    Base.Checked.checked_mul(Int(h), Int(w))
    return ImagePlane(h, w, half_image != 0)
end

clip_radius2(max_r2::Real) = max_r2 < 0 ? Inf : Float64(max_r2)

"Integer bound equivalent to `kx² + ky² ≤ max_r2` for integer frequencies (`max_r2 ≥ 0`)."
clip_limit(max_r2::Float64) = max_r2 >= 2.0^60 ? typemax(Int) >> 2 : floor(Int, max_r2)

"The order, volume layout and image plane that both slicing adapters decode from their flags."
function slicing_arguments(rotations::AbstractArray, order::Integer, half_volume::Integer, half_image::Integer,
                           n0::Integer, n1::Integer, n2::Integer, h::Integer, w::Integer)
    check_rotations(rotations)
    return interpolation_order(order), volume_layout(half_volume, n0, n1, n2), image_plane(h, w, half_image)
end

"""
    slice_volume_kernel!(out, volumes, rotations, order, half_volume, half_image,
                         n0, n1, n2, h, w, max_r2, u)

Kernel "slice_volume". NumPy shapes: `out` (B, n, npix|nhalf), `volumes` (B, V|Vh),
`rotations` (n, 3, 3). `order` 0/1/3; `half_volume`, `half_image` 0/1; `max_r2` the squared
clip radius on unrotated integer plane frequencies (negative: no clipping; ignored by
cubic); `u` the factor scaling plane frequencies. Element type of `out` must be
`projection_eltype(order, eltype(volumes), promote_type(Float32, eltype(rotations)))`.
"""
function slice_volume_kernel!(out::AbstractArray, volumes::AbstractArray, rotations::AbstractArray,
                              order::Integer, half_volume::Integer, half_image::Integer,
                              n0::Integer, n1::Integer, n2::Integer, h::Integer, w::Integer,
                              max_r2::Real, u::Integer)
    interp, layout, plane = slicing_arguments(rotations, order, half_volume, half_image, n0, n1, n2, h, w)
    B = size(volumes, ndims(volumes))
    length(volumes) == stored_length(layout) * B ||
        throw(DimensionMismatch("volumes have $(length(volumes)) entries, expected $B × $(stored_length(layout))"))
    Tc = promote_type(Float32, eltype(rotations))
    To = projection_eltype(interp, eltype(volumes), Tc)
    eltype(out) == To || throw(ArgumentError("output element type $(eltype(out)) should be $To"))
    flat = reshape(volumes, stored_length(layout), B)
    vols = [VolumeView(view(flat, :, b), layout) for b in 1:B]
    r2 = clip_radius2(interp, max_r2)
    slice_volumes!(vec(out), vols, rotations, plane, interp, Int(u), r2)
    return nothing
end

"""
    adjoint_slice_volume_kernel!(out, slices, rotations, order, half_volume, half_image,
                                 n0, n1, n2, h, w, max_r2, u)

Kernel "adjoint_slice_volume": `out` (NumPy (B, V|Vh)) `+=` the backprojection of
`slices` (NumPy (B, n, npix|nhalf)) with `rotations` (n, 3, 3); arguments as in
`slice_volume_kernel!`. Half images (orders 0/1) are backprojected as
`half_image_to_full_image(slices)`; cubic half images as their packed pixels only
(recovar's VJP of the half-image slice).
"""
function adjoint_slice_volume_kernel!(out::AbstractArray, slices::AbstractArray, rotations::AbstractArray,
                                      order::Integer, half_volume::Integer, half_image::Integer,
                                      n0::Integer, n1::Integer, n2::Integer, h::Integer, w::Integer,
                                      max_r2::Real, u::Integer)
    interp, layout, plane = slicing_arguments(rotations, order, half_volume, half_image, n0, n1, n2, h, w)
    B = size(out, ndims(out))
    ndims(out) >= 1 && length(out) == stored_length(layout) * B ||
        throw(DimensionMismatch("output has $(length(out)) entries, expected $B × $(stored_length(layout))"))
    if eltype(slices) <: Complex && !(eltype(out) <: Complex)
        throw(ArgumentError("complex slices need a complex output, got $(eltype(out))"))
    end
    r2 = clip_radius2(interp, max_r2)
    conjugate_partners = plane.half && scatters_partners(interp)
    adjoint_slice_volumes!(reshape(out, stored_length(layout), B), vec(slices), rotations, plane, interp,
                           layout, Int(u), r2, conjugate_partners)
    return nothing
end

"""
    backproject_pair_kernel!(data, weights, slices, multipliers, weight_values, rotations, order,
                             half_volume, half_image, n0, n1, n2, h, w, max_r2, u)

Kernel "backproject_pair", the fused pass of a reconstruction: `data` (NumPy V|Vh, complex)
`+=` the backprojection of `multipliers · slices` and `weights` (same shape, real) `+=` that
of `weight_values`, every pixel located once. `slices` (n, npix|nhalf) complex,
`multipliers` and `weight_values` real of the same shape, `rotations` (n, 3, 3); `order`
0 or 1; the other arguments as in `slice_volume_kernel!`. Equals two
"adjoint_slice_volume" calls bit for bit.
"""
function backproject_pair_kernel!(data::AbstractArray, weights::AbstractArray, slices::AbstractArray,
                                  multipliers::AbstractArray, weight_values::AbstractArray, rotations::AbstractArray,
                                  order::Integer, half_volume::Integer, half_image::Integer,
                                  n0::Integer, n1::Integer, n2::Integer, h::Integer, w::Integer,
                                  max_r2::Real, u::Integer)
    interp, layout, plane, r2 = pair_arguments(data, weights, rotations, order, half_volume, half_image,
                                               n0, n1, n2, h, w, max_r2)
    for (name, a) in (("multipliers", multipliers), ("weight_values", weight_values))
        eltype(a) <: Real || throw(ArgumentError("$name must be real, got $(eltype(a))"))
    end
    backproject_pair!(reshape(data, :, 1), reshape(weights, :, 1), vec(slices), vec(multipliers), vec(weight_values),
                      rotations, plane, interp, layout, Int(u), r2, plane.half && scatters_partners(interp))
    return nothing
end

# the checked slicing arguments (and clip radius) of a fused pair kernel
function pair_arguments(data::AbstractArray, weights::AbstractArray, rotations::AbstractArray, order::Integer,
                        half_volume::Integer, half_image::Integer, n0::Integer, n1::Integer, n2::Integer,
                        h::Integer, w::Integer, max_r2::Real)
    interp, layout, plane = slicing_arguments(rotations, order, half_volume, half_image, n0, n1, n2, h, w)
    interp isa Cubic && throw(ArgumentError("backproject_pair supports orders 0 and 1, got 3"))
    eltype(data) <: Complex || throw(ArgumentError("data must be complex, got $(eltype(data))"))
    eltype(weights) <: Real || throw(ArgumentError("weights must be real, got $(eltype(weights))"))
    return interp, layout, plane, clip_radius2(interp, max_r2)
end

"""
    backproject_pair_ctf_kernel!(data, weights, slices, ctf, limits, rotations, order, half_volume, half_image,
                                 n0, n1, n2, h, w, max_r2, u, ctf_kind, voxel_size, correction, ctf_sign,
                                 data_sign)

Kernel "backproject_pair_ctf": "backproject_pair" with the multipliers computed in the
kernel (ctf_pixels.jl): `ctf` the CTF data of kind `ctf_kind` (`ctf_source`: 0 none, 1
tabulated (n, nhalf) values, 2 SPA (n, ≥ 9) parameters), `limits` (n,) float64 frequency
limits (1/Å, Inf: none), `voxel_size` Å; `correction`, `ctf_sign`, `data_sign` a
`CTFCorrection`. The other arguments as in `backproject_pair_kernel!`.
"""
function backproject_pair_ctf_kernel!(data::AbstractArray, weights::AbstractArray, slices::AbstractArray,
                                      ctf::AbstractArray, limits::AbstractArray, rotations::AbstractArray,
                                      order::Integer, half_volume::Integer, half_image::Integer,
                                      n0::Integer, n1::Integer, n2::Integer, h::Integer, w::Integer,
                                      max_r2::Real, u::Integer, ctf_kind::Integer, voxel_size::Real,
                                      correction::Integer, ctf_sign::Real, data_sign::Real)
    interp, layout, plane, r2 = pair_arguments(data, weights, rotations, order, half_volume, half_image,
                                               n0, n1, n2, h, w, max_r2)
    ctf_kind in (CTF_NONE, CTF_TABULATED, CTF_SPA) ||
        throw(ArgumentError("backproject_pair_ctf supports CTF kinds 0 (none), 1 (tabulated) and 2 (SPA), got $ctf_kind"))
    eltype(limits) <: Real || throw(ArgumentError("limits must be real, got $(eltype(limits))"))
    source = ctf_source(ctf_kind, ctf, plane, voxel_size, 0.0, 0.0)
    backproject_pair_ctf!(reshape(data, :, 1), reshape(weights, :, 1), vec(slices), source,
                          CTFCorrection(correction, ctf_sign, data_sign), vec(limits), voxel_size, rotations, plane,
                          interp, layout, Int(u), r2, plane.half && scatters_partners(interp))
    return nothing
end

"""
    precompile_slicing()

`precompile` statements for the common signatures: complex64 volumes and images with
float32 poses (as Python passes them), every order and volume layout, down to the
type-stable inner functions that the kernels reach through dynamic dispatch. Meant to be
called from `precompile.jl`. Complex128 volumes and float64 poses are left to the first
call: inferring them here took about 7 of the 14 s of inference in the cold build.
"""
function precompile_slicing()
    T = ComplexF32
    precompile(slice_volume_kernel!, (Array{T,3}, Array{T,2}, Array{Float32,3}, Int, Int, Int, Int, Int, Int, Int, Int,
                                      Float64, Int))
    precompile(adjoint_slice_volume_kernel!, (Array{T,2}, Array{T,3}, Array{Float32,3}, Int, Int, Int, Int, Int, Int,
                                              Int, Int, Float64, Int))
    column = SubArray{T,1,Array{T,2},Tuple{Base.Slice{Base.OneTo{Int}},Int},true}
    for L in (FullVolume, HalfVolume), O in (Nearest, Linear, Cubic)
        precompile(slice_volumes!, (Vector{projection_eltype(O(), T, Float32)}, Vector{VolumeView{T,L,column}},
                                    Array{Float32,3}, ImagePlane, O, Int, Float64))
        precompile(adjoint_slice_volumes!, (Array{T,2}, Vector{T}, Array{Float32,3}, ImagePlane, O, L, Int, Float64,
                                            Bool))
    end
    precompile(backproject_pair_kernel!, (Array{ComplexF32,1}, Array{Float32,1}, Array{ComplexF32,2},
                                          Array{Float32,2}, Array{Float32,2}, Array{Float32,3}, Int, Int, Int, Int,
                                          Int, Int, Int, Int, Float64, Int))
    for C in (Array{Float32,1}, Array{Float32,2})
        precompile(backproject_pair_ctf_kernel!, (Array{ComplexF32,1}, Array{Float32,1}, Array{ComplexF32,2}, C,
                                                  Array{Float64,1}, Array{Float32,3}, Int, Int, Int, Int, Int, Int,
                                                  Int, Int, Float64, Int, Int, Float64, Int, Float64, Float64))
    end
    precompile(calculate_spline_coefficients_kernel!, (Array{ComplexF32,3},))
    precompile(calculate_spline_coefficients_kernel!, (Array{ComplexF64,3},))
    return nothing
end

register_kernel("slice_volume", slice_volume_kernel!)
register_kernel("adjoint_slice_volume", adjoint_slice_volume_kernel!)
register_kernel("backproject_pair", backproject_pair_kernel!)
register_kernel("backproject_pair_ctf", backproject_pair_ctf_kernel!)
