# Helpers shared by the test files.
using Random
using LinearAlgebra: dot

"Relative error ‖a − b‖ / max(‖b‖, tiny)."
relerr(a, b) = sqrt(sum(abs2, a .- b)) / max(sqrt(sum(abs2, b)), floatmin(Float64))

"""
    adjoint_mismatch(forward, adjoint, x, y)

|⟨A x, y⟩ − ⟨x, Aᵀ y⟩| / (‖A x‖‖y‖): the adjoint identity every projector/backprojector
pair must satisfy.
"""
function adjoint_mismatch(forward, adjoint, x, y)
    Ax = forward(x)
    Aty = adjoint(y)
    lhs = dot(Ax, y)
    rhs = dot(x, Aty)
    return abs(lhs - rhs) / max(sqrt(sum(abs2, Ax)) * sqrt(sum(abs2, y)), floatmin(Float64))
end

"Naive centered DFT along all axes (for checking FFT conventions on tiny arrays)."
function naive_centered_dft(x::AbstractArray{T,N}) where {T,N}
    out = zeros(ComplexF64, size(x))
    for k in CartesianIndices(x), j in CartesianIndices(x)
        phase = 0.0
        for d in 1:N
            n = size(x, d)
            phase += (k[d] - 1 - n ÷ 2) * (j[d] - 1 - n ÷ 2 - (isodd(n) ? 1 : 0)) / n
        end
        out[k] += x[j] * cis(-2pi * phase)
    end
    return out
end
