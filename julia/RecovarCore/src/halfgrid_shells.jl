# The reconstruct job's passes over its finished sums on the rfft-packed half grid
# (docs/conventions.md §2): shell sums for the Wiener filter and the FSC, and the Wiener
# division B / max(W + m·λ, m·floor) that feeds each map's inverse transform. One fused,
# threaded pass each instead of NumPy's many passes and whole-slab temporaries.
#
# Layout: a NumPy half volume (P, P, P÷2+1) in C order is a Julia array (P÷2+1, P, P) here:
# index [j, i1, i0] holds the frequency (i0 − 1 − P÷2, i1 − 1 − P÷2, packed column j − 1, whose
# square is (j − 1)²: for even P column P÷2 holds −P÷2). A cell stands for itself and its
# conjugate partner (multiplicity m = 2), but in column 0 and, for even P, column P÷2 only for
# itself (m = 1).
# Per-shell curves arrive as per-|k|² tables (index |k|² + 1), so a cell costs one lookup.

"""Multiplicity (1 or 2, Float32) of packed column `j` (1-based) of a half grid of side `P`:
1 for column 1 and, for even P, the last (frequency −P÷2, its own partner)."""
@inline column_multiplicity(j::Int, P::Int) = (j == 1 || (iseven(P) && j == P ÷ 2 + 1)) ? 1.0f0 : 2.0f0

"Integer |k|² of the half-grid cell [j, i1, i0] (1-based) of side `P`."
@inline function cell_r2(j::Int, i1::Int, i0::Int, P::Int)
    s = P ÷ 2
    return (i0 - 1 - s)^2 + (i1 - 1 - s)^2 + (j - 1)^2
end

"""
Integer |k|² of the cell [j, i1, i0] of an rfft-layout spectrum (axes i1, i0 not centred:
index i holds frequency i − 1, or i − 1 − P from i − 1 > P÷2 on)."""
@inline function plain_cell_r2(j::Int, i1::Int, i0::Int, P::Int)
    k0 = i0 - 1 > P ÷ 2 ? i0 - 1 - P : i0 - 1
    k1 = i1 - 1 > P ÷ 2 ? i1 - 1 - P : i1 - 1
    return k0^2 + k1^2 + (j - 1)^2
end

function check_half_volume(name::String, volume::AbstractArray, P::Int)
    size(volume) == (P ÷ 2 + 1, P, P) ||
        throw(DimensionMismatch("$name must be a half volume of size $((P ÷ 2 + 1, P, P)), got $(size(volume))"))
end

function check_r2_table(name::String, table::AbstractVector, P::Int)
    length(table) >= 3 * (P ÷ 2)^2 + 1 ||
        throw(DimensionMismatch("$name needs an entry per |k|² = 0 … $(3 * (P ÷ 2)^2), got $(length(table))"))
end

"""
    blockwise_sums!(sums, n, add!)

Threaded binned sums over the planes 1:`n`: `add!(partial, planes)` adds the terms of the
planes `planes` into `partial` (zeros of the size of `sums`), one `partial` per block of
planes (`static_blocks`); they are then added into `sums` in block order, so the result does
not depend on the threads' timing. Returns `sums`.
"""
function blockwise_sums!(sums::AbstractArray{Float64}, n::Int, add!)
    nblocks = max(1, min(Threads.nthreads(), n))
    partial = [zeros(Float64, size(sums)) for _ in 1:nblocks]
    static_blocks((b, planes) -> add!(partial[b], planes), n, nblocks)
    for b in 1:nblocks
        sums .+= partial[b]
    end
    return sums
end

"""
    shell_weight_sums!(sums, weights1, weights2, shell_r2)

`sums[s + 1] += (W1 + W2)·½` (Float32 cell values summed in Float64) over the half-grid cells
whose shell `shell_r2[|k|² + 1]` is s; cells of shells ≥ `length(sums)` are dropped. `weights1`,
`weights2` (P÷2+1, P, P) Float32 hold m × the full-grid weights, so the sums are the full
grid's mean half-set weight per shell times its cell count. Threads over i0 blocks
([`blockwise_sums!`](@ref)): the same result in every run.
"""
function shell_weight_sums!(sums::AbstractVector{Float64}, weights1::AbstractArray{Float32,3},
                            weights2::AbstractArray{Float32,3}, shell_r2::AbstractVector{Int32})
    P = size(weights1, 3)
    check_half_volume("weights1", weights1, P)
    check_half_volume("weights2", weights2, P)
    check_r2_table("shell_r2", shell_r2, P)
    n = length(sums)
    return blockwise_sums!(sums, P, (partial, planes) -> begin
        @inbounds for i0 in planes, i1 in 1:P, j in 1:size(weights1, 1)
            s = shell_r2[cell_r2(j, i1, i0, P) + 1]
            0 <= s < n || continue
            partial[s + 1] += Float64((weights1[j, i1, i0] + weights2[j, i1, i0]) * 0.5f0)
        end
    end)
end

"""
    shell_fsc_sums!(sums, data1, data2, weights1, weights2, floor_r2, shell_r2, centred=true)

FSC sums of the two half-set maps `u_h = B_h / max(W_h, m·floor)` per shell: `sums[s + 1, 1]`
cross `m·Re(u1·conj u2)`, `sums[s + 1, 2]` and `[s + 1, 3]` the powers `m·|u_h|²` (each term
Float32, summed in Float64; shells as in [`shell_weight_sums!`](@ref)). `data_h`
(P÷2+1, P, P) ComplexF32, `weights_h` Float32, `floor_r2` Float32 per |k|². With empty
`weights1`, `weights2` the `u_h` are the data themselves (the FSC of two half spectra).
`centred` false: the spectra have the plain rfft layout (`plain_cell_r2`), as `rfftn` gives them.
"""
function shell_fsc_sums!(sums::AbstractMatrix{Float64}, data1::AbstractArray{ComplexF32,3},
                         data2::AbstractArray{ComplexF32,3}, weights1::AbstractArray{Float32,3},
                         weights2::AbstractArray{Float32,3}, floor_r2::AbstractVector{Float32},
                         shell_r2::AbstractVector{Int32}, centred::Bool=true)
    P = size(data1, 3)
    divide = !isempty(weights1)
    check_half_volume("data1", data1, P)
    check_half_volume("data2", data2, P)
    if divide
        check_half_volume("weights1", weights1, P)
        check_half_volume("weights2", weights2, P)
        check_r2_table("floor_r2", floor_r2, P)
    end
    check_r2_table("shell_r2", shell_r2, P)
    size(sums, 2) == 3 || throw(DimensionMismatch("sums must have 3 columns, got $(size(sums, 2))"))
    n = size(sums, 1)
    return blockwise_sums!(sums, P, (partial, planes) -> begin
        @inbounds for i0 in planes, i1 in 1:P, j in 1:size(data1, 1)
            r2 = centred ? cell_r2(j, i1, i0, P) : plain_cell_r2(j, i1, i0, P)
            s = shell_r2[r2 + 1]
            0 <= s < n || continue
            m = column_multiplicity(j, P)
            u1, u2 = data1[j, i1, i0], data2[j, i1, i0]
            if divide   # by the reciprocal, as NumPy divides a complex by a real
                floor = floor_r2[r2 + 1] * m
                u1 *= inv(max(weights1[j, i1, i0], floor))
                u2 *= inv(max(weights2[j, i1, i0], floor))
            end
            partial[s + 1, 1] += Float64((real(u1) * real(u2) + imag(u1) * imag(u2)) * m)
            partial[s + 1, 2] += Float64((real(u1) * real(u1) + imag(u1) * imag(u1)) * m)
            partial[s + 1, 3] += Float64((real(u2) * real(u2) + imag(u2) * imag(u2)) * m)
        end
    end)
end

"""
    wiener_rows!(out, data1, data2, weights1, weights2, lam_r2, floor_r2, first_row, which)

Full-grid values of the Wiener-filtered map on the axis-1 rows `first_row … first_row + w − 1`
(0-based, NumPy's axis 1; `out` is (P÷2+1, w, P) ComplexF32):
`B / max(W + m·λ, m·floor)` with λ, floor per |k|² (`lam_r2`, `floor_r2`, Float32). `which`:
0 or 1 one half set (its B_h, W_h), 2 both summed (B1 + B2, W1 + W2), 3 both summed with λ = 0.
Since m is 1 or 2 this is exactly (B/m) / max(W/m + λ, floor). Threads over i0 blocks.
"""
function wiener_rows!(out::AbstractArray{ComplexF32,3}, data1::AbstractArray{ComplexF32,3},
                      data2::AbstractArray{ComplexF32,3}, weights1::AbstractArray{Float32,3},
                      weights2::AbstractArray{Float32,3}, lam_r2::AbstractVector{Float32},
                      floor_r2::AbstractVector{Float32}, first_row::Integer, which::Integer)
    P = size(data1, 3)
    h, w = P ÷ 2 + 1, size(out, 2)
    for (name, volume) in (("data1", data1), ("data2", data2), ("weights1", weights1), ("weights2", weights2))
        check_half_volume(name, volume, P)
    end
    check_r2_table("lam_r2", lam_r2, P)
    check_r2_table("floor_r2", floor_r2, P)
    size(out) == (h, w, P) || throw(DimensionMismatch("out must be of size $((h, w, P)), got $(size(out))"))
    0 <= first_row && first_row + w <= P ||
        throw(ArgumentError("rows $first_row … $(first_row + w - 1) are outside 0 … $(P - 1)"))
    0 <= which <= 3 || throw(ArgumentError("which must be 0, 1, 2 or 3, got $which"))
    nblocks = max(1, min(Threads.nthreads(), P))
    mode = Val(Int(which))
    static_blocks((_, planes) -> wiener_planes!(out, data1, data2, weights1, weights2, lam_r2, floor_r2,
                                                Int(first_row), planes, mode), P, nblocks)
    return out
end

# The loop of `wiener_rows!` over the i0 planes `planes`, one method body per mode (`Val`:
# no branch per cell). The division is by multiplication with the reciprocal, as NumPy
# divides a complex by a real (so the values are NumPy's own, bit for bit).
function wiener_planes!(out, data1, data2, weights1, weights2, lam_r2, floor_r2, first_row::Int,
                        planes::UnitRange{Int}, ::Val{mode}) where {mode}
    P, h, w = size(data1, 3), size(out, 1), size(out, 2)
    @inbounds for i0 in planes, r in 1:w
        i1 = first_row + r
        for j in 1:h
            r2 = cell_r2(j, i1, i0, P)
            m = column_multiplicity(j, P)
            if mode == 0
                b, wt = data1[j, i1, i0], weights1[j, i1, i0]
            elseif mode == 1
                b, wt = data2[j, i1, i0], weights2[j, i1, i0]
            else
                b, wt = data1[j, i1, i0] + data2[j, i1, i0], weights1[j, i1, i0] + weights2[j, i1, i0]
            end
            den = mode == 3 ? wt : lam_r2[r2 + 1] * m + wt
            out[j, r, i0] = b * inv(max(den, floor_r2[r2 + 1] * m))
        end
    end
    return out
end

shell_weight_sums_kernel!(sums, weights1, weights2, shell_r2) =
    (shell_weight_sums!(sums, weights1, weights2, shell_r2); nothing)
shell_fsc_sums_kernel!(sums, data1, data2, weights1, weights2, floor_r2, shell_r2, centred) =
    (shell_fsc_sums!(sums, data1, data2, weights1, weights2, floor_r2, shell_r2, centred != 0); nothing)
wiener_rows_kernel!(out, data1, data2, weights1, weights2, lam_r2, floor_r2, first_row, which) =
    (wiener_rows!(out, data1, data2, weights1, weights2, lam_r2, floor_r2, first_row, which); nothing)

register_kernel("shell_weight_sums", shell_weight_sums_kernel!)
register_kernel("shell_fsc_sums", shell_fsc_sums_kernel!)
register_kernel("wiener_rows", wiener_rows_kernel!)
