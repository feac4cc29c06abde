# Fourier shell correlation of two volumes and the resolution where it crosses a threshold
# (the conventions of recovar_jl/jobs/fsc.py, which the reconstruct job reports).

"""
    fsc(x, y) -> Vector{Float64}

Fourier shell correlation of two centered spectra on the same full `n³` grid, shells
`0 … n÷2` (shell `s` holds the frequencies with `round(|k|) == s`, `k` the centered
integer frequency; it is the spatial frequency `s / (n·pixel_size)`):
`Re Σ x·conj(y) / sqrt(Σ|x|² Σ|y|²)` per shell, 0 for a shell without power.
"""
function fsc(x::AbstractArray{<:Number,3}, y::AbstractArray{<:Number,3})
    size(x) == size(y) || throw(DimensionMismatch("fsc: sizes $(size(x)) and $(size(y)) differ"))
    n = size(x, 1)
    size(x) == (n, n, n) || throw(ArgumentError("fsc needs cubic volumes, got size $(size(x))"))
    shells = n ÷ 2 + 1
    cross = zeros(shells)
    px = zeros(shells)
    py = zeros(shells)
    c = n ÷ 2 + 1
    for k in 1:n, j in 1:n, i in 1:n
        s = round(Int, sqrt(Float64((i - c)^2 + (j - c)^2 + (k - c)^2)))
        s < shells || continue
        a = ComplexF64(x[i, j, k])
        b = ComplexF64(y[i, j, k])
        cross[s + 1] += real(a * conj(b))
        px[s + 1] += abs2(a)
        py[s + 1] += abs2(b)
    end
    return [px[s] * py[s] > 0 ? cross[s] / sqrt(px[s] * py[s]) : 0.0 for s in 1:shells]
end

"""
    resolution(curve, n, pixel_size; threshold=0.143) -> Union{Float64,Nothing}

The resolution (Å) where the FSC `curve` (from [`fsc`](@ref) on an `n³` grid of
`pixel_size` Å) first falls below `threshold`, interpolating linearly between shells (shell
0 skipped); `nothing` if it never does (resolution limited by Nyquist, `2·pixel_size`).
"""
function resolution(curve::AbstractVector{<:Real}, n::Integer, pixel_size::Real; threshold::Real=0.143)
    freq(s) = s / (n * pixel_size)   # shell index s (0-based) in 1/Å
    for i in 2:length(curve)
        if curve[i] < threshold
            lo, hi = curve[i-1], curve[i]
            f = lo == hi ? freq(i - 1) : freq(i - 2) + (lo - threshold) / (lo - hi) * (freq(i - 1) - freq(i - 2))
            return 1 / f
        end
    end
    return nothing
end
