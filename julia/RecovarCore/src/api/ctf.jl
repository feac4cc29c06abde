# CTF parameters with names, CTF modes as types, and the CTF on an image grid. The
# parameter rows and mode codes are those of the CTF kernels (src/ctf.jl, src/forward.jl).

"""
    CTFParams(; defocus_u, defocus_v=defocus_u, defocus_angle=0, voltage=300, cs=2.7,
              amplitude_contrast=0.1, phase_shift=0, bfactor=0, contrast=1,
              dose=0, tilt_number=0, tilt_angle=0)

The CTF of one image. Units: defocus_u/defocus_v Å (underfocus positive), defocus_angle
degrees, voltage kV, cs mm, amplitude_contrast a fraction in [0, 1], phase_shift degrees,
bfactor Å², contrast a scale. `dose` (cumulative, e⁻/Å²) and `tilt_angle` (degrees) are
used by [`CryoET`](@ref), `tilt_number` by [`TiltSeries`](@ref).
"""
struct CTFParams
    defocus_u::Float64
    defocus_v::Float64
    defocus_angle::Float64
    voltage::Float64
    cs::Float64
    amplitude_contrast::Float64
    phase_shift::Float64
    bfactor::Float64
    contrast::Float64
    dose::Float64
    tilt_number::Float64
    tilt_angle::Float64
end

CTFParams(; defocus_u::Real, defocus_v::Real=defocus_u, defocus_angle::Real=0, voltage::Real=300, cs::Real=2.7,
          amplitude_contrast::Real=0.1, phase_shift::Real=0, bfactor::Real=0, contrast::Real=1, dose::Real=0,
          tilt_number::Real=0, tilt_angle::Real=0) =
    CTFParams(defocus_u, defocus_v, defocus_angle, voltage, cs, amplitude_contrast, phase_shift, bfactor, contrast,
              dose, tilt_number, tilt_angle)

"""
    CTFMode

How the CTF of an image is evaluated: [`SPA`](@ref), [`SPAAntialiased`](@ref),
[`TiltSeries`](@ref), [`CryoET`](@ref).
"""
abstract type CTFMode end

"`SPA()`: the CTF at each pixel's frequency (B-factor envelope included)."
struct SPA <: CTFMode end

"""
    SPAAntialiased(squared=false)

The SPA CTF on the twice finer grid (same pixel size), averaged over 3×3 fine pixels (zero
outside) around each pixel; with `squared`, the average of the squared CTF.
"""
struct SPAAntialiased <: CTFMode
    squared::Bool
end
SPAAntialiased() = SPAAntialiased(false)

"""
    TiltSeries(dose_per_tilt, angle_per_tilt)

SPA CTF times the dose filter of a tilt series: image with `tilt_number` m has dose
`m·dose_per_tilt` (e⁻/Å²) and tilt `angle_per_tilt·⌈m/2⌉` (degrees).
"""
struct TiltSeries <: CTFMode
    dose_per_tilt::Float64
    angle_per_tilt::Float64
end

"`CryoET()`: SPA CTF times the dose filter of each image's `dose` and `tilt_angle`."
struct CryoET <: CTFMode end

# codes of ctf_grid! (antialias, dose_mode) and of the forward kernels' ctf_kind
grid_codes(::SPA) = (0, DOSE_NONE, 0.0, 0.0)
grid_codes(m::SPAAntialiased) = (m.squared ? 2 : 1, DOSE_NONE, 0.0, 0.0)
grid_codes(m::TiltSeries) = (0, DOSE_TILT_SERIES, m.dose_per_tilt, m.angle_per_tilt)
grid_codes(::CryoET) = (0, DOSE_CRYO_ET, 0.0, 0.0)

forward_codes(::SPA) = (CTF_SPA, 0.0, 0.0)
forward_codes(m::SPAAntialiased) = m.squared ?
    throw(ArgumentError("the forward model takes the CTF, not its square: use SPAAntialiased()")) :
    (CTF_SPA_ANTIALIASED, 0.0, 0.0)
forward_codes(m::TiltSeries) = (CTF_TILT_SERIES, m.dose_per_tilt, m.angle_per_tilt)
forward_codes(::CryoET) = (CTF_CRYO_ET, 0.0, 0.0)

"""
    parameter_matrix(params, mode) -> Matrix{Float64}

The kernels' `(11, n)` parameter matrix (a NumPy `(n, 11)` array): defocus_u, defocus_v,
defocus_angle, voltage, cs, amplitude_contrast, phase_shift, bfactor, contrast, then
`tilt_number` (TiltSeries) or `dose`, then `tilt_angle`.
"""
function parameter_matrix(params::AbstractVector{CTFParams}, mode::CTFMode)
    out = Matrix{Float64}(undef, 11, length(params))
    for (i, p) in enumerate(params)
        out[:, i] = [p.defocus_u, p.defocus_v, p.defocus_angle, p.voltage, p.cs, p.amplitude_contrast,
                     p.phase_shift, p.bfactor, p.contrast, mode isa TiltSeries ? p.tilt_number : p.dose,
                     p.tilt_angle]
    end
    return out
end

"""
    ctf(params, grid::ImageGrid; mode=SPA(), eltype=Float32)

The CTF of every image of `params` (a vector of [`CTFParams`](@ref)) on `grid`: an array of
size `(image_dims(grid)..., n)`; for a single `CTFParams`, one `image_dims(grid)` image.
Threaded over images.

# Example
```julia
grid = ImageGrid(64, 2.0)                                   # 64² pixels of 2 Å
c = ctf(CTFParams(defocus_u=15000, defocus_v=14000, defocus_angle=30), grid)   # (64, 64)
```
"""
function ctf(params::AbstractVector{CTFParams}, grid::ImageGrid; mode::CTFMode=SPA(),
             eltype::Type{<:Union{Float32,Float64}}=Float32)
    antialias, dose_mode, dose_per_tilt, angle_per_tilt = grid_codes(mode)
    width, side = image_dims(grid)
    out = Array{eltype}(undef, width, side, length(params))
    ctf_grid!(reshape(out, width * side, length(params)), parameter_matrix(params, mode), grid.side,
              grid.pixel_size, is_half(grid.layout) ? 1 : 0, antialias, dose_mode, dose_per_tilt, angle_per_tilt)
    return out
end

ctf(params::CTFParams, grid::ImageGrid; kwargs...) = dropdims(ctf([params], grid; kwargs...); dims=3)
