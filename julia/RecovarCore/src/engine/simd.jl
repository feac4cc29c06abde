# Four-float vectors for complex float32 pairs: loads of two neighbouring entries and the
# trilinear and scatter arithmetic on them (plain LLVM IR on vector values, valid for every
# LLVM Julia ships).

const Float32x4 = NTuple{4,VecElement{Float32}}
const Float32x2 = NTuple{2,VecElement{Float32}}

"Dense complex float32 storage, read through pointers by the vectorised trilinear path."
const DenseComplexF32 = Union{Vector{ComplexF32},
                              SubArray{ComplexF32,1,<:DenseArray,<:Tuple{Base.Slice,Vararg{Int}},true}}

"Entries k and k + 1 of `d` as four floats (re, im, re, im); unaligned load."
@inline load_pair(d::DenseComplexF32, k::Int) = unsafe_load(Ptr{Float32x4}(pointer(d, k)))

"""
    trilinear_pairs(q00, q01, q10, q11, fx, fy, fz) -> ComplexF32

Trilinear value from the pairs `qab = (d_ab0, d_ab1)` (complex entries, axis-2 neighbours):
the lerps along axis 2, then 1, then 0 of `trilinear`, two complex lerps per vector
operation. Plain IR on vector values (no pointers), valid for every LLVM Julia ships.
"""
@inline function trilinear_pairs(q00::Float32x4, q01::Float32x4, q10::Float32x4, q11::Float32x4,
                                 fx::Float32, fy::Float32, fz::Float32)
    r = Base.llvmcall("""
        %z1 = insertelement <4 x float> undef, float %6, i32 0
        %z = shufflevector <4 x float> %z1, <4 x float> undef, <4 x i32> zeroinitializer
        %y1 = insertelement <4 x float> undef, float %5, i32 0
        %y = shufflevector <4 x float> %y1, <4 x float> undef, <4 x i32> zeroinitializer
        %x1 = insertelement <2 x float> undef, float %4, i32 0
        %x = shufflevector <2 x float> %x1, <2 x float> undef, <2 x i32> zeroinitializer
        %alo = shufflevector <4 x float> %0, <4 x float> %1, <4 x i32> <i32 0, i32 1, i32 4, i32 5>
        %ahi = shufflevector <4 x float> %0, <4 x float> %1, <4 x i32> <i32 2, i32 3, i32 6, i32 7>
        %ad = fsub <4 x float> %ahi, %alo
        %am = fmul <4 x float> %ad, %z
        %a = fadd <4 x float> %alo, %am
        %blo = shufflevector <4 x float> %2, <4 x float> %3, <4 x i32> <i32 0, i32 1, i32 4, i32 5>
        %bhi = shufflevector <4 x float> %2, <4 x float> %3, <4 x i32> <i32 2, i32 3, i32 6, i32 7>
        %bd = fsub <4 x float> %bhi, %blo
        %bm = fmul <4 x float> %bd, %z
        %b = fadd <4 x float> %blo, %bm
        %clo = shufflevector <4 x float> %a, <4 x float> %b, <4 x i32> <i32 0, i32 1, i32 4, i32 5>
        %chi = shufflevector <4 x float> %a, <4 x float> %b, <4 x i32> <i32 2, i32 3, i32 6, i32 7>
        %cd = fsub <4 x float> %chi, %clo
        %cm = fmul <4 x float> %cd, %y
        %c = fadd <4 x float> %clo, %cm
        %dlo = shufflevector <4 x float> %c, <4 x float> undef, <2 x i32> <i32 0, i32 1>
        %dhi = shufflevector <4 x float> %c, <4 x float> undef, <2 x i32> <i32 2, i32 3>
        %dd = fsub <2 x float> %dhi, %dlo
        %dm = fmul <2 x float> %dd, %x
        %r = fadd <2 x float> %dlo, %dm
        ret <2 x float> %r
        """, Float32x2, Tuple{Float32x4,Float32x4,Float32x4,Float32x4,Float32,Float32,Float32},
        q00, q01, q10, q11, fx, fy, fz)
    return ComplexF32(r[1].value, r[2].value)
end

"(a, b) → (conj(b), conj(a)) for a pair of complex float32 held as four floats."
@inline swap_conj(q::Float32x4) = Base.llvmcall("""
    %n = fsub <4 x float> <float -0.0, float -0.0, float -0.0, float -0.0>, %0
    %r = shufflevector <4 x float> %0, <4 x float> %n, <4 x i32> <i32 2, i32 7, i32 0, i32 5>
    ret <4 x float> %r
    """, Float32x4, Tuple{Float32x4}, q)

"`d[k] += wa·value`, `d[k + 1] += wb·value` as one four-float load, multiply-add and store."
@inline function add_pair!(d::DenseComplexF32, k::Int, wa::Float32, wb::Float32, value::ComplexF32)
    p = Ptr{Float32x4}(pointer(d, k))
    unsafe_store!(p, weighted_add(unsafe_load(p), wa, wb, real(value), imag(value)))
    return nothing
end

"q + (wa·re, wa·im, wb·re, wb·im), products rounded before the sum."
@inline weighted_add(q::Float32x4, wa::Float32, wb::Float32, re::Float32, im::Float32) = Base.llvmcall("""
    %w1 = insertelement <4 x float> undef, float %1, i32 0
    %w2 = insertelement <4 x float> %w1, float %1, i32 1
    %w3 = insertelement <4 x float> %w2, float %2, i32 2
    %w = insertelement <4 x float> %w3, float %2, i32 3
    %v1 = insertelement <4 x float> undef, float %3, i32 0
    %v2 = insertelement <4 x float> %v1, float %4, i32 1
    %v = shufflevector <4 x float> %v2, <4 x float> undef, <4 x i32> <i32 0, i32 1, i32 0, i32 1>
    %e = fmul <4 x float> %w, %v
    %r = fadd <4 x float> %0, %e
    ret <4 x float> %r
    """, Float32x4, Tuple{Float32x4,Float32,Float32,Float32,Float32}, q, wa, wb, re, im)
