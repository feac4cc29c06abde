# Software prefetch of the cache lines an interpolation will touch.
#
# Slicing reads (and backprojection updates) a few cache lines per pixel at addresses that
# move obliquely through the volume, which hardware prefetchers do not predict; one miss at
# a time leaves the core waiting on memory. The kernels therefore handle a row of pixels
# in two passes: the first locates every pixel's cell and prefetches its lines, the second
# interpolates. `llvm.prefetch` is reached with `llvmcall` in its declaration form with the
# unsuffixed intrinsic name (LLVM ≥ 10 renames it to the overloaded one while parsing);
# whether this Julia accepts it is probed once, inside `try` — otherwise prefetching is off
# (same results, slower). `ENV["RECOVAR_JL_PREFETCH"] = "none"` turns it off.

"""
    Prefetcher{M,T}(base)

Requests cache lines of a dense vector of element type `T` at address `base`:
`M = :prefetch` (`llvm.prefetch`) or `:none`.
"""
struct Prefetcher{M,T}
    base::UInt
end

# `llvm.prefetch(address, read, high locality, data cache)`
@inline llvm_prefetch(address::UInt) = Base.llvmcall(
    ("declare void @llvm.prefetch(i8*, i32, i32, i32)",
     """%ptr = inttoptr i64 %0 to i8*
     call void @llvm.prefetch(i8* %ptr, i32 0, i32 3, i32 1)
     ret void"""), Cvoid, Tuple{UInt}, address)

function prefetch_probe()
    x = Ref(0.0)
    GC.@preserve x llvm_prefetch(UInt(pointer_from_objref(x)))
    return true
end

const PREFETCH_WORKS = Ref{Int}(-1)

"""
    prefetch_kind() -> Symbol

`:prefetch` if this Julia compiles `llvm_prefetch` (probed once) and
`ENV["RECOVAR_JL_PREFETCH"]` is not "none"; else `:none`.
"""
function prefetch_kind()
    get(ENV, "RECOVAR_JL_PREFETCH", "") == "none" && return :none
    if PREFETCH_WORKS[] < 0
        PREFETCH_WORKS[] = try
            prefetch_probe() ? 1 : 0
        catch
            0
        end
    end
    return PREFETCH_WORKS[] == 1 ? :prefetch : :none
end

# Smaller volumes stay in the caches between the pixels that touch them, and requesting
# their lines costs more than it saves: one thread, 500 images with SPA CTF, the forward
# model and its adjoint ran 5–8 % faster without prefetching at box 64 (2 MiB) and 96
# (7 MiB), equal at box 112 (11 MiB), and up to 30 % slower at box 128 (17 MiB). A `Ref`
# so that the tests can exercise prefetching on small volumes.
const PREFETCH_MIN_BYTES = Ref(8 << 20)

"`Prefetcher` for the storage of `data` (only dense storage of at least `PREFETCH_MIN_BYTES`)."
Prefetcher(data::DenseVector{T}, kind::Symbol) where {T} = dense_prefetcher(data, kind)
Prefetcher(data::SubArray{T,1,<:DenseArray,<:Tuple{Base.Slice,Vararg{Int}},true}, kind::Symbol) where {T} =
    dense_prefetcher(data, kind)
dense_prefetcher(data::AbstractVector{T}, kind::Symbol) where {T} =
    kind === :prefetch && sizeof(data) >= PREFETCH_MIN_BYTES[] ? Prefetcher{:prefetch,T}(UInt(pointer(data))) :
    Prefetcher{:none,T}(UInt(0))
Prefetcher(data::AbstractVector{T}, kind::Symbol) where {T} = Prefetcher{:none,T}(UInt(0))

"Prefetch the cache line of stored entry `k` (1-based; an address inside the storage)."
@inline request(pf::Prefetcher{:none}, k::Int) = nothing
@inline request(pf::Prefetcher{:prefetch,T}, k::Int) where {T} = llvm_prefetch(pf.base + UInt((k - 1) * sizeof(T)))

"""
    prefetch_location(pf, v::VolumeView, loc)

Prefetch the lines `evaluate`/`scatter_at!` will touch at `loc` (in-grid blocks only).
"""
@inline prefetch_location(::Prefetcher{:none}, v::VolumeView, loc) = nothing

@inline function prefetch_location(pf::Prefetcher{:prefetch}, v::VolumeView, loc::VoxelLocation)
    loc.kind == OUTSIDE || request(pf, loc.k)
    return nothing
end

@inline function prefetch_location(pf::Prefetcher{:prefetch}, v::VolumeView, loc::CellLocation)
    k = loc.k
    s1 = stride1(v.layout)
    s0 = stride0(v.layout)
    if loc.kind == DIRECT
        request(pf, k); request(pf, k + s1); request(pf, k + s0); request(pf, k + s0 + s1)
    elseif loc.kind == CONJUGATED
        request(pf, k); request(pf, k - s1); request(pf, k - s0); request(pf, k - s0 - s1)
    end
    return nothing
end

@inline function prefetch_location(pf::Prefetcher{:prefetch}, v::VolumeView, loc::CubicLocation)
    l = v.layout
    j0, in0 = cubic_base(loc.g0, l.n0)
    j1, in1 = cubic_base(loc.g1, l.n1)
    j2, in2 = cubic_base(loc.g2, l.n2)
    (in0 & in1 & in2) || return nothing
    for a0 in 0:3, a1 in 0:3
        request(pf, stored_location(l, j0 + a0, j1 + a1, j2 + 1)[1])
    end
    return nothing
end
