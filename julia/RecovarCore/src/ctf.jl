# Contrast transfer function, dose filters and the frequency grids they are evaluated on
# (recovar.core.ctf). Every value is computed in Float64 and rounded once to the output
# type: γ reaches thousands of radians at high defocus, where Float32 phases would be off
# by ~1e-4.
#
# The per-pixel pieces (`CTFConstants` + `ctf_value`, `DoseConstants` + `dose_factor`, and
# the branch-free `sincos_fast` / `exp_fast`) are small inlinable functions so that other
# kernels (the fused forward model) can evaluate the CTF inside their own pixel loops; the
# loops below vectorise them with `@simd`.

# ---------------------------------------------------------------------------------------
# Branch-free elementary functions (SIMD-friendly: no calls, no branches, only ifelse)
# ---------------------------------------------------------------------------------------

# Adding then subtracting 1.5·2^52 rounds a Float64 of magnitude < 2^51 to an integer; the
# integer also sits in the low mantissa bits of the sum.
const MAGIC_ROUND = 6755399441055744.0
const TWO_OVER_PI = 0.6366197723675814
# π/2 split so that n·PIO2_HI is exact for |n| < 2^20 (Cody–Waite reduction).
const PIO2_HI = 1.57079632673412561417e+00
const PIO2_LO = 6.07710050650619224932e-11
# Minimax coefficients of sin and cos on [-π/4, π/4] (the classic fdlibm kernels).
const SIN_COEFFS = (-1.66666666666666324348e-01, 8.33333333332248946124e-03,
                    -1.98412698298579493134e-04, 2.75573137070700676789e-06,
                    -2.50507602534068634195e-08, 1.58969099521155010221e-10)
const COS_COEFFS = (4.16666666666666019037e-02, -1.38888888888741095749e-03,
                    2.48015872894767294178e-05, -2.75573143513906633035e-07,
                    2.08757232129817482790e-09, -1.13596475577881948265e-11)

"""
    sincos_fast(x::Float64) -> (sin(x), cos(x))

Branch-free sine and cosine, accurate to about 1 ulp for |x| < `SINCOS_FAST_LIMIT` = 10⁶
(Cody–Waite reduction to [-π/4, π/4], then minimax polynomials). Written with `ifelse`
only, so loops calling it vectorise. **Beyond the limit the reduction is inexact and the
result is meaningless**: callers check their argument range first (see `fast_ctf_ok`).
NaN in gives NaN out.
"""
@inline function sincos_fast(x::Float64)
    t = muladd(x, TWO_OVER_PI, MAGIC_ROUND)
    n = t - MAGIC_ROUND
    quadrant = reinterpret(Int64, t) & 3
    r = muladd(-n, PIO2_HI, x)
    r = muladd(-n, PIO2_LO, r)
    z = r * r
    s = muladd(r * z, evalpoly_fast(z, SIN_COEFFS), r)
    c = muladd(z * z, evalpoly_fast(z, COS_COEFFS), muladd(-0.5, z, 1.0))
    odd = (quadrant & 1) != 0
    sin_x = ifelse(odd, c, s)
    cos_x = ifelse(odd, s, c)
    sin_x = ifelse((quadrant & 2) != 0, -sin_x, sin_x)
    cos_x = ifelse(((quadrant + 1) & 2) != 0, -cos_x, cos_x)
    return sin_x, cos_x
end

const SINCOS_FAST_LIMIT = 1.0e6

"Horner evaluation of c[1] + c[2] z + … (Julia 1.5 has `evalpoly`, spelled out for clarity)."
@inline evalpoly_fast(z, c::NTuple{6,Float64}) =
    muladd(z, muladd(z, muladd(z, muladd(z, muladd(z, c[6], c[5]), c[4]), c[3]), c[2]), c[1])

const LOG2E = 1.4426950408889634
# ln 2 split so that k·LN2_HI is exact for |k| < 2^21.
const LN2_HI = 6.93147180369123816490e-01
const LN2_LO = 1.90821492927058770002e-10

"""
    exp_fast(x::Float64) -> exp(x)

Branch-free exponential, about 1 ulp: reduction x = k ln2 + r, |r| ≤ ln2/2, degree-13
Taylor polynomial, 2^k assembled in the exponent bits. Returns 0 below -708 (where exp is
subnormal, < 3e-308) and Inf above 709.78; NaN propagates.
"""
@inline function exp_fast(x::Float64)
    xc = min(max(x, -708.0), 709.0)
    t = muladd(xc, LOG2E, MAGIC_ROUND)
    k = t - MAGIC_ROUND
    r = muladd(-k, LN2_HI, xc)
    r = muladd(-k, LN2_LO, r)
    p = muladd(r, 1 / 6227020800, 1 / 479001600)
    p = muladd(r, p, 1 / 39916800)
    p = muladd(r, p, 1 / 3628800)
    p = muladd(r, p, 1 / 362880)
    p = muladd(r, p, 1 / 40320)
    p = muladd(r, p, 1 / 5040)
    p = muladd(r, p, 1 / 720)
    p = muladd(r, p, 1 / 120)
    p = muladd(r, p, 1 / 24)
    p = muladd(r, p, 1 / 6)
    p = muladd(r, p, 0.5)
    p = muladd(r, p, 1.0)
    p = muladd(r, p, 1.0)
    k_int = reinterpret(Int64, t) - reinterpret(Int64, MAGIC_ROUND)
    y = p * reinterpret(Float64, (k_int + 1023) << 52)
    y = ifelse(x < -708.0, 0.0, y)
    return ifelse(x > 709.78, Inf, y)
end

# Base's `sin` and `cos` through C pointers. Julia 1.5 compiles calls from this package's
# precompiled (cached) code to Base's `sin`/`cos` as boxed `jl_invoke`s: 16–48 bytes of
# garbage per call, i.e. per image in every per-image kernel (CTFConstants, dose_constants).
# Through a `@cfunction` pointer, made when the package loads, the same compiled Base
# methods run without allocating (same values).
const SIN_POINTER = Ref{Ptr{Cvoid}}(C_NULL)
const COS_POINTER = Ref{Ptr{Cvoid}}(C_NULL)

function init_math_pointers()
    SIN_POINTER[] = @cfunction(sin, Float64, (Float64,))
    COS_POINTER[] = @cfunction(cos, Float64, (Float64,))
    return nothing
end

"`sin(x)` (Base's) without allocating from precompiled code."
sin_unboxed(x::Float64) = ccall(SIN_POINTER[], Float64, (Float64,), x)
"`cos(x)` (Base's) without allocating from precompiled code."
cos_unboxed(x::Float64) = ccall(COS_POINTER[], Float64, (Float64,), x)

# ---------------------------------------------------------------------------------------
# Frequency grids (docs/conventions.md §2–3)
# ---------------------------------------------------------------------------------------

"""
    scaled_frequency(index, n, voxel_size) -> Float64

Frequency (1/Å) of centered index `index` (0-based) on an axis of `n` samples, exactly as
recovar's float32 grid rounds it: `Float32(index − n÷2) / Float32(n·voxel_size)` in Float32.
"""
@inline scaled_frequency(index::Integer, n::Integer, voxel_size::Real) =
    Float64(Float32(index - n ÷ 2) / Float32(n * Float64(voxel_size)))

"Centered frequency axis (1/Å, float32-rounded values) of `n` samples: index i+1 ↔ i − n÷2."
frequency_axis(n::Integer, voxel_size::Real) = Float64[scaled_frequency(i, n, voxel_size) for i in 0:n-1]

"""
    packed_columns(n) -> Vector{Int}

1-based centered column of each rfft-packed column (docs/conventions.md §2): even n
`n/2, …, n−1, 0` (0-based), odd n `n÷2, …, n−1`. The last packed column of an even axis is
the Nyquist column, frequency −n/2.
"""
packed_columns(n::Integer) = Int[mod(n ÷ 2 + j, n) + 1 for j in 0:n÷2]

"""
    image_grid_axes(n, voxel_size, half) -> (column_frequencies, row_frequencies)

The two axes of the square image grid recovar's CTF uses, in 1/Å: kx per output column
(all n centered columns, or the n÷2+1 packed ones when `half`), ky per row. Output pixel
(row r, column j) is `j + (r−1)·length(column_frequencies)` (C-order flattening).
"""
function image_grid_axes(n::Integer, voxel_size::Real, half::Bool)
    axis = frequency_axis(n, voxel_size)
    return (half ? axis[packed_columns(n)] : axis), axis
end

"""
    grid_frequencies(n, voxel_size, half) -> (kx, ky)

Per-pixel frequencies (1/Å) of the square n×n grid, full (n² pixels) or rfft-packed
(n(n÷2+1)), flattened in C order: the same list as recovar's
`get_k_coordinate_of_each_pixel(_half)((n, n), voxel_size, scaled=True)`.
"""
function grid_frequencies(n::Integer, voxel_size::Real, half::Bool)
    columns, rows = image_grid_axes(n, voxel_size, half)
    kx = repeat(columns, length(rows))
    ky = repeat(rows, inner=length(columns))
    return kx, ky
end

# ---------------------------------------------------------------------------------------
# The CTF of one image (docs/conventions.md §9)
# ---------------------------------------------------------------------------------------

"""
    CTFConstants

Per-image constants of the CTF, built from one parameter row (docs/conventions.md §8: DFU, DFV, DFANG,
VOLT, CS, W, PHASE_SHIFT, BFACTOR, CONTRAST) so that `ctf_value(c, kx, ky)` costs one
polynomial, one `sincos_fast` and one `exp_fast`. With s² = kx² + ky²:

    γ = s²·(defocus + spherical·s²) + astig_cos·(kx² − ky²) + astig_sin·kx·ky − phase_shift
    ctf = (sin_weight·sin γ + cos_weight·cos γ) · exp(decay·s²)

which is recovar's `−π λ Δf s² + (π/2) Cs λ³ s⁴ − φ` with the astigmatic
`Δf = ½(DFU + DFV + (DFU − DFV) cos 2(θ − α))` expanded through cos 2θ = (kx² − ky²)/s²,
sin 2θ = 2 kx ky / s² (no atan2, and no special case at s = 0).
"""
struct CTFConstants
    defocus::Float64      # −π λ (DFU + DFV)/2, Å⁻¹·Å² → rad per (1/Å)²
    astig_cos::Float64    # −π λ (DFU − DFV)/2 · cos 2α
    astig_sin::Float64    # −π λ (DFU − DFV) · sin 2α
    spherical::Float64    # (π/2) Cs λ³
    phase_shift::Float64  # φ, rad
    sin_weight::Float64   # √(1 − W²) · CONTRAST
    cos_weight::Float64   # −W · CONTRAST
    decay::Float64        # −BFACTOR / 4
end

"Relativistic electron wavelength (Å) at `voltage_kv` kV."
electron_wavelength(voltage_kv::Real) =
    (v = 1000 * Float64(voltage_kv); 12.2642598 / sqrt(v * (1 + 9.78475598e-7 * v)))

"""
    CTFConstants(dfu, dfv, dfang, volt, cs, w, phase_shift, bfactor, contrast)
    CTFConstants(params::AbstractMatrix, image)

From the nine physical parameters (Å, Å, degrees, kV, mm, fraction, degrees, Å², scale),
or from column `image` of a Julia `(K ≥ 9, n)` parameter matrix (a NumPy `(n, K)` array).
A |W| > 1 gives NaN (as recovar's `(1 − W²)^½`), never an exception.
"""
function CTFConstants(dfu::Real, dfv::Real, dfang::Real, volt::Real, cs::Real, w::Real,
                      phase_shift::Real, bfactor::Real, contrast::Real)
    λ = electron_wavelength(volt)
    α = Float64(dfang) * (π / 180)
    mean_defocus = (Float64(dfu) + Float64(dfv)) / 2
    half_astigmatism = (Float64(dfu) - Float64(dfv)) / 2
    s2α = sin_unboxed(2α)
    c2α = cos_unboxed(2α)
    one_minus_w2 = 1 - Float64(w)^2
    amplitude = one_minus_w2 >= 0 ? sqrt(one_minus_w2) : NaN
    return CTFConstants(-π * λ * mean_defocus,
                        -π * λ * half_astigmatism * c2α,
                        -2π * λ * half_astigmatism * s2α,
                        (π / 2) * (Float64(cs) * 1e7) * λ^3,
                        Float64(phase_shift) * (π / 180),
                        amplitude * Float64(contrast),
                        -Float64(w) * Float64(contrast),
                        -Float64(bfactor) / 4)
end

@inline CTFConstants(params::AbstractMatrix, image::Integer) =
    CTFConstants(params[1, image], params[2, image], params[3, image], params[4, image],
                 params[5, image], params[6, image], params[7, image], params[8, image],
                 params[9, image])

"""
    ctf_value(c::CTFConstants, kx::Float64, ky::Float64) -> Float64

The CTF at spatial frequency (kx, ky) in 1/Å (kx = column frequency, ky = row frequency on
recovar's grids), B-factor envelope included. Branch-free and inlined: call it inside
`@simd` pixel loops. `ctf_value_undamped` omits the envelope `exp(decay·s²)` (use it when
`c.decay == 0`: it halves the cost).
"""
@inline ctf_value(c::CTFConstants, kx::Float64, ky::Float64) =
    ctf_value_undamped(c, kx, ky) * exp_fast(c.decay * muladd(kx, kx, ky * ky))

@inline function ctf_value_undamped(c::CTFConstants, kx::Float64, ky::Float64)
    sin_γ, cos_γ = sincos_fast(ctf_phase(c, kx, ky))
    return muladd(c.sin_weight, sin_γ, c.cos_weight * cos_γ)
end

"The phase γ (rad) of the CTF at (kx, ky) in 1/Å."
@inline function ctf_phase(c::CTFConstants, kx::Float64, ky::Float64)
    x2 = kx * kx
    y2 = ky * ky
    s2 = x2 + y2
    return muladd(s2, muladd(c.spherical, s2, c.defocus),
                  muladd(c.astig_cos, x2 - y2, muladd(c.astig_sin, kx * ky, -c.phase_shift)))
end

"""
    ctf_value_accurate(c, kx, ky) -> Float64

`ctf_value` with Base's `sincos` and `exp`: correct for any phase, not vectorisable. The
kernels use it for images whose phase can leave `sincos_fast`'s range (`fast_ctf_ok`).
"""
function ctf_value_accurate(c::CTFConstants, kx::Float64, ky::Float64)
    sin_γ, cos_γ = sincos(ctf_phase(c, kx, ky))
    return muladd(c.sin_weight, sin_γ, c.cos_weight * cos_γ) * exp(c.decay * muladd(kx, kx, ky * ky))
end

"""
    fast_ctf_ok(c, s2_max) -> Bool

Whether |γ| stays below `SINCOS_FAST_LIMIT` for every frequency with kx² + ky² ≤ `s2_max`
(1/Å²), so that `ctf_value` is accurate there. Physical parameters give |γ| ≲ 10⁴; only
absurd inputs (sub-0.001 Å pixels, say) fail, and NaN constants fail.
"""
function fast_ctf_ok(c::CTFConstants, s2_max::Float64)
    bound = (abs(c.defocus) + abs(c.astig_cos) + abs(c.astig_sin) / 2) * s2_max +
            abs(c.spherical) * s2_max^2 + abs(c.phase_shift)
    return bound < SINCOS_FAST_LIMIT
end

"Largest kx² + ky² over a set of points."
max_squared_frequency(kx::AbstractVector{Float64}, ky::AbstractVector{Float64}) =
    isempty(kx) ? 0.0 : maximum(p -> muladd(kx[p], kx[p], ky[p]^2), eachindex(kx))

# ---------------------------------------------------------------------------------------
# Dose filters (docs/conventions.md §10)
# ---------------------------------------------------------------------------------------

"`k` of the critical exposure: 0.75 at 200 kV (NumPy `isclose` tolerances), else 1."
voltage_scale(voltage::Real) = abs(Float64(voltage) - 200) <= 1e-8 + 1e-5 * 200 ? 0.75 : 1.0

"""
    critical_exposure_value(freq, scale) -> Float64

Critical exposure (e⁻/Å²) at spatial frequency `freq` (1/Å): `0.245·scale·freq^(−1.665) + 2.81`
(Grant & Grigorieff 2015); +Inf at freq 0, NaN for negative or NaN freq.
"""
@inline function critical_exposure_value(freq::Float64, scale::Float64)
    freq >= 0 || return NaN
    return muladd(0.245 * scale, freq^(-1.665), 2.81)
end

"""
    DoseConstants

Per-image constants of the dose filter: cumulative dose `dose` (e⁻/Å²) and the tilt factor
`cos(tilt)`; build with `dose_constants(dose, tilt_degrees)`. With per-pixel `exposure_limit = 2.51284·Ne` and `half_inverse_exposure = 0.5/Ne`
(Ne = critical exposure at that pixel), `dose_factor` gives
`exp(−D/(2 Ne)) · [D < 2.51284 Ne] · cos(tilt)`.
"""
struct DoseConstants
    dose::Float64
    cos_tilt::Float64
end

dose_constants(dose::Real, tilt_degrees::Real) =
    DoseConstants(Float64(dose), cos_unboxed(Float64(tilt_degrees) * (π / 180)))

@inline dose_factor(d::DoseConstants, exposure_limit::Float64, half_inverse_exposure::Float64) =
    ifelse(d.dose < exposure_limit, exp_fast(-d.dose * half_inverse_exposure), 0.0) * d.cos_tilt

"""
    exposure_tables(kx, ky, voltage) -> (limit, half_inverse)

Per pixel: `2.51284·Ne` and `0.5/Ne`, Ne the critical exposure at |k| (|k| computed from
the float32 grid values in Float32, as recovar does).
"""
function exposure_tables(kx::Vector{Float64}, ky::Vector{Float64}, voltage::Real)
    scale = voltage_scale(voltage)
    limit = similar(kx)
    half_inverse = similar(kx)
    for p in eachindex(kx)
        s = Float64(sqrt(Float32(kx[p])^2 + Float32(ky[p])^2))
        ne = critical_exposure_value(s, scale)
        limit[p] = 2.51284 * ne
        half_inverse[p] = 0.5 / ne
    end
    return limit, half_inverse
end

# ---------------------------------------------------------------------------------------
# Image-grid kernels
# ---------------------------------------------------------------------------------------

const DOSE_NONE = 0
const DOSE_TILT_SERIES = 1
const DOSE_CRYO_ET = 2

"""
    ctf_grid!(out, params, image_side, voxel_size, half, antialias, dose_mode, dose_per_tilt, angle_per_tilt)

The CTF of every image on recovar's square image grid, fused over images × pixels, threaded
over images. Julia shapes (NumPy's reversed): `out` (npix, n) with npix = N² (full) or
N(N÷2+1) (`half` ≠ 0, rfft-packed, Nyquist column kx = −N/2); `params` (K, n).
`voxel_size` in Å.

* `antialias` 0: plain SPA CTF. 1: SPA_ANTIALIASED — CTF on the (2N)² grid with the same
  voxel size, 3×3 box mean with zero padding, every second sample. 2: the same with the
  fine CTF squared first (`compute_antialiased_ctf_squared`).
* `dose_mode` 0 none; 1 TILT_SERIES (row 10 = tilt number; dose = number·`dose_per_tilt`,
  tilt = `angle_per_tilt`·⌈number/2⌉); 2 CRYO_ET (row 10 dose, row 11 tilt angle in
  degrees). The dose filter uses the first image's voltage for every image.
"""
function ctf_grid!(out::AbstractMatrix{T}, params::AbstractMatrix{<:Real}, image_side::Integer,
                   voxel_size::Real, half::Integer, antialias::Integer, dose_mode::Integer,
                   dose_per_tilt::Real, angle_per_tilt::Real) where {T<:Union{Float32,Float64}}
    n = size(params, 2)
    N = Int(image_side)
    N > 0 || throw(ArgumentError("ctf_grid!: image side must be positive, got $N"))
    voxel_size > 0 || throw(ArgumentError("ctf_grid!: voxel size must be positive, got $voxel_size"))
    antialias in (0, 1, 2) || throw(ArgumentError("ctf_grid!: antialias must be 0, 1 or 2"))
    dose_mode in (DOSE_NONE, DOSE_TILT_SERIES, DOSE_CRYO_ET) ||
        throw(ArgumentError("ctf_grid!: unknown dose mode $dose_mode"))
    (antialias == 0 || dose_mode == DOSE_NONE) ||
        throw(ArgumentError("ctf_grid!: antialiasing and dose filters do not combine"))
    needed = dose_mode == DOSE_CRYO_ET ? 11 : dose_mode == DOSE_TILT_SERIES ? 10 : 9
    size(params, 1) >= needed ||
        throw(DimensionMismatch("ctf_grid!: need $needed parameters per image, got $(size(params, 1))"))
    kx, ky = grid_frequencies(N, voxel_size, half != 0)
    size(out) == (length(kx), n) ||
        throw(DimensionMismatch("ctf_grid!: out is $(size(out)), expected ($(length(kx)), $n)"))
    n == 0 && return nothing
    if antialias != 0
        fine_axis = frequency_axis(2N, voxel_size)
        output_columns = half != 0 ? packed_columns(N) : collect(1:N)
        antialiased_ctf_images!(out, params, N, fine_axis, output_columns, antialias == 2)
    elseif dose_mode == DOSE_NONE
        ctf_images!(out, params, kx, ky)
    else
        limit, half_inverse = exposure_tables(kx, ky, params[4, 1])
        doses = Vector{DoseConstants}(undef, n)
        for i in 1:n
            if dose_mode == DOSE_TILT_SERIES
                tilt_number = Float64(params[10, i])
                doses[i] = dose_constants(tilt_number * Float64(dose_per_tilt),
                                         Float64(angle_per_tilt) * ceil(tilt_number / 2))
            else
                doses[i] = dose_constants(params[10, i], params[11, i])
            end
        end
        dosed_ctf_images!(out, params, kx, ky, doses, limit, half_inverse)
    end
    return nothing
end

# ---------------------------------------------------------------------------------------
# The one CTF evaluator: every CTF value of the package (grids here, rows of the forward
# model in forward.jl) comes from `ctf_points!` / `fine_ctf_rows!`
# ---------------------------------------------------------------------------------------

"The y frequency of point p: one value for a whole row, or one per point."
@inline point_frequency(ky::Float64, p::Int) = ky
@inline point_frequency(ky::AbstractVector{Float64}, p::Int) = @inbounds ky[p]

"""
    ctf_points!(dest, c, kx, ky, fast, points)
    ctf_points!(dest, c, kx, ky, fast, points, dose, limit, half_inverse, table_offset)

`dest[p]` ← the CTF `c` at (kx[p], ky[p]) (1/Å) for p in `points` (a range of indices of
`kx`), rounded once to `eltype(dest)`; `ky` is a vector, or one Float64 for a row of points.
With a dose filter, times `dose_factor(dose, limit[q], half_inverse[q])`, q = `table_offset + p`.
`fast` = `fast_ctf_ok(c, s2_max)` of the points: the vectorised `ctf_value`, else
`ctf_value_accurate` point by point.
"""
function ctf_points!(dest::AbstractVector{T}, c::CTFConstants, kx::AbstractVector{Float64}, ky, fast::Bool,
                     points::AbstractUnitRange{Int}) where {T}
    isempty(points) && return dest
    (checkbounds(Bool, dest, points) && checkbounds(Bool, kx, points)) ||
        throw(BoundsError(dest, points))
    if !fast
        for p in points
            @inbounds dest[p] = T(ctf_value_accurate(c, kx[p], point_frequency(ky, p)))
        end
    elseif c.decay == 0
        @inbounds @simd for p in points
            dest[p] = T(ctf_value_undamped(c, kx[p], point_frequency(ky, p)))
        end
    else
        @inbounds @simd for p in points
            dest[p] = T(ctf_value(c, kx[p], point_frequency(ky, p)))
        end
    end
    return dest
end

function ctf_points!(dest::AbstractVector{T}, c::CTFConstants, kx::AbstractVector{Float64}, ky, fast::Bool,
                     points::AbstractUnitRange{Int}, d::DoseConstants, limit::AbstractVector{Float64},
                     half_inverse::AbstractVector{Float64}, table_offset::Int) where {T}
    isempty(points) && return dest
    (checkbounds(Bool, dest, points) && checkbounds(Bool, kx, points) &&
     checkbounds(Bool, limit, points .+ table_offset) && checkbounds(Bool, half_inverse, points .+ table_offset)) ||
        throw(BoundsError(dest, points))
    if fast
        @inbounds @simd for p in points
            q = table_offset + p
            dest[p] = T(ctf_value(c, kx[p], point_frequency(ky, p)) * dose_factor(d, limit[q], half_inverse[q]))
        end
    else
        for p in points
            q = table_offset + p
            @inbounds dest[p] = T(ctf_value_accurate(c, kx[p], point_frequency(ky, p)) *
                                  dose_factor(d, limit[q], half_inverse[q]))
        end
    end
    return dest
end

"Column i of `out` ← CTF of image i (parameters column i of `params`) at points (kx, ky), threaded."
function ctf_images!(out::AbstractMatrix, params, kx::Vector{Float64}, ky::Vector{Float64})
    s2_max = max_squared_frequency(kx, ky)
    foreach_image(size(out, 2)) do i
        c = CTFConstants(params, i)
        ctf_points!(view(out, :, i), c, kx, ky, fast_ctf_ok(c, s2_max), eachindex(kx))
    end
    return out
end

function dosed_ctf_images!(out::AbstractMatrix, params, kx::Vector{Float64}, ky::Vector{Float64},
                           doses::Vector{DoseConstants}, limit::Vector{Float64},
                           half_inverse::Vector{Float64})
    s2_max = max_squared_frequency(kx, ky)
    foreach_image(size(out, 2)) do i
        c = CTFConstants(params, i)
        ctf_points!(view(out, :, i), c, kx, ky, fast_ctf_ok(c, s2_max), eachindex(kx), doses[i], limit, half_inverse, 0)
    end
    return out
end

"""
    box_downsample(fine, offset, N, r, c) -> Float64

3×3 box mean (weights 1/9, zero outside) of a (2N)² fine image around fine pixel
(2r, 2c) (0-based coarse row r, column c); `fine[offset + fc + 2N·fr + 1]` is fine pixel
(fr, fc). Only the −1 neighbour can fall outside the grid.
"""
@inline function box_downsample(fine::AbstractVector, offset::Int, N::Int, r::Int, c::Int)
    M = 2N
    total = 0.0
    @inbounds for fr in max(2r - 1, 0):(2r + 1)
        base = offset + fr * M + 1
        for fc in max(2c - 1, 0):(2c + 1)
            total += Float64(fine[base + fc])
        end
    end
    return total / 9
end

function antialiased_ctf_images!(out::AbstractMatrix{T}, params, N::Int, fine_axis::Vector{Float64},
                                 output_columns::Vector{Int}, squared::Bool) where {T}
    s2_max = 2 * maximum(abs2, fine_axis)
    on_demand_blocks(size(out, 2)) do blocks
        fine = Vector{Float64}(undef, 4N * N)
        for images in blocks, i in images
            c = CTFConstants(params, i)
            fine_ctf_rows!(fine, c, fine_axis, 0:2N-1, squared, fast_ctf_ok(c, s2_max))
            downsample_image!(out, i, fine, N, output_columns)
        end
    end
    return out
end

"""
    fine_ctf_rows!(fine, c, fine_axis, rows, squared, fast)

The CTF `c` (or its square) on rows `rows` (0-based) of the fine grid whose axis is
`fine_axis` (M = `length(fine_axis)` points, 1/Å): fine pixel (fr, fc) goes to
`fine[(fr − first(rows))·M + fc + 1]`. `fast` as in `ctf_points!`.
"""
function fine_ctf_rows!(fine::Vector{Float64}, c::CTFConstants, fine_axis::Vector{Float64}, rows::UnitRange{Int},
                        squared::Bool, fast::Bool)
    M = length(fine_axis)
    length(fine) >= M * length(rows) || throw(DimensionMismatch("fine_ctf_rows!: buffer too short"))
    for fr in rows
        offset = (fr - first(rows)) * M
        row = view(fine, offset+1:offset+M)
        ctf_points!(row, c, fine_axis, fine_axis[fr + 1], fast, 1:M)
        if squared
            @inbounds @simd for fc in 1:M
                row[fc] = row[fc]^2
            end
        end
    end
    return fine
end

"Column `i` of `out` ← the box-filtered, decimated `fine` image at `output_columns` (1-based)."
function downsample_image!(out::AbstractMatrix{T}, i::Int, fine::Vector{Float64}, N::Int,
                           output_columns::Vector{Int}) where {T}
    ncols = length(output_columns)
    for r in 1:N, j in 1:ncols
        @inbounds out[j + (r - 1) * ncols, i] = T(box_downsample(fine, 0, N, r - 1, output_columns[j] - 1))
    end
    return out
end

"""
    box_downsample!(out, fine, image_side, half, squared)

The antialiasing step alone, for CTFs computed elsewhere: `fine` (4N², n) holds each
image's values on the (2N)² grid (C order), `out` (N² or N(N÷2+1), n) receives the 3×3
zero-padded box mean at even fine indices (of the squares when `squared` ≠ 0), packed to
the rfft half layout when `half` ≠ 0.
"""
function box_downsample!(out::AbstractMatrix{T}, fine::AbstractMatrix{S}, image_side::Integer,
                         half::Integer, squared::Integer) where {T<:Union{Float32,Float64},S<:Union{Float32,Float64}}
    N = Int(image_side)
    M = 2N
    n = size(fine, 2)
    size(fine, 1) == M * M || throw(DimensionMismatch("box_downsample!: fine images have $(size(fine, 1)) pixels, expected $(M * M)"))
    output_columns = half != 0 ? packed_columns(N) : collect(1:N)
    ncols = length(output_columns)
    size(out) == (ncols * N, n) || throw(DimensionMismatch("box_downsample!: out is $(size(out)), expected ($(ncols * N), $n)"))
    n == 0 && return nothing
    on_demand_blocks(n) do blocks
        scratch = Vector{Float64}(undef, M * M)
        for images in blocks, i in images
            copy_fine_image!(scratch, fine, i, squared != 0)
            downsample_image!(out, i, scratch, N, output_columns)
        end
    end
    return nothing
end

function copy_fine_image!(scratch::Vector{Float64}, fine::AbstractMatrix, i::Int, squared::Bool)
    @inbounds for p in eachindex(scratch)
        v = Float64(fine[p, i])
        scratch[p] = squared ? v * v : v
    end
    return scratch
end

"""
    evaluate_ctf!(out, freqs, params)

`out` (p, n) = CTF of image i at frequency column j of `freqs` (≥2, p) in 1/Å (row 1 = x =
column frequency, row 2 = y); `params` (≥9, n). (NumPy: freqs (p, 2), params (n, 9), out (n, p).)
"""
function evaluate_ctf!(out::AbstractMatrix{T}, freqs::AbstractMatrix{<:Real},
                       params::AbstractMatrix{<:Real}) where {T<:Union{Float32,Float64}}
    n = size(params, 2)
    p = size(freqs, 2)
    size(freqs, 1) >= 2 || throw(DimensionMismatch("evaluate_ctf!: freqs need 2 coordinates per point"))
    size(params, 1) >= 9 || throw(DimensionMismatch("evaluate_ctf!: need 9 parameters per image, got $(size(params, 1))"))
    size(out) == (p, n) || throw(DimensionMismatch("evaluate_ctf!: out is $(size(out)), expected ($p, $n)"))
    (n == 0 || p == 0) && return nothing
    kx = Float64[freqs[1, j] for j in 1:p]
    ky = Float64[freqs[2, j] for j in 1:p]
    ctf_images!(out, params, kx, ky)
    return nothing
end

"""
    dose_filters!(out, cumulative_dose, tilt_angles, image_side, pixel_size, voltage, half)

`out` (npix, n): `exp(−D_i/(2 Ne_p))·[D_i < 2.51284 Ne_p]·cos(tilt_i)` on the square grid of
side `image_side` (pixel size Å; full or rfft-packed), Ne the critical exposure at |k|.
`cumulative_dose` (n) e⁻/Å², `tilt_angles` (n) degrees, `voltage` kV.
"""
function dose_filters!(out::AbstractMatrix{T}, cumulative_dose::AbstractVector{<:Real},
                       tilt_angles::AbstractVector{<:Real}, image_side::Integer, pixel_size::Real,
                       voltage::Real, half::Integer) where {T<:Union{Float32,Float64}}
    n = length(cumulative_dose)
    length(tilt_angles) == n || throw(DimensionMismatch("dose_filters!: $n doses but $(length(tilt_angles)) tilt angles"))
    image_side > 0 || throw(ArgumentError("dose_filters!: image side must be positive, got $image_side"))
    kx, ky = grid_frequencies(Int(image_side), pixel_size, half != 0)
    size(out) == (length(kx), n) ||
        throw(DimensionMismatch("dose_filters!: out is $(size(out)), expected ($(length(kx)), $n)"))
    n == 0 && return nothing
    limit, half_inverse = exposure_tables(kx, ky, voltage)
    foreach_image(n) do i
        dose_image!(out, i, dose_constants(cumulative_dose[i], tilt_angles[i]), limit, half_inverse)
    end
    return nothing
end

function dose_image!(out::AbstractMatrix{T}, i::Int, d::DoseConstants, limit::Vector{Float64},
                     half_inverse::Vector{Float64}) where {T}
    @inbounds @simd for p in eachindex(limit)
        out[p, i] = T(dose_factor(d, limit[p], half_inverse[p]))
    end
    return out
end

"""
    critical_exposure!(out, freq, scale)

Elementwise `out = 0.245·scale·freq^(−1.665) + 2.81` (same-length vectors; `scale` 0.75 at
200 kV, else 1).
"""
function critical_exposure!(out::AbstractVector{T}, freq::AbstractVector{<:Real},
                            scale::AbstractVector{<:Real}) where {T<:Union{Float32,Float64}}
    length(out) == length(freq) == length(scale) ||
        throw(DimensionMismatch("critical_exposure!: lengths $(length(out)), $(length(freq)), $(length(scale))"))
    @inbounds for k in eachindex(out)
        out[k] = T(critical_exposure_value(Float64(freq[k]), Float64(scale[k])))
    end
    return nothing
end

register_kernel("ctf_grid", ctf_grid!)
register_kernel("ctf_box_downsample", box_downsample!)
register_kernel("evaluate_ctf", evaluate_ctf!)
register_kernel("dose_filters", dose_filters!)
register_kernel("critical_exposure", critical_exposure!)
