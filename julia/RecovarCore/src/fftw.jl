# The only file that knows FFTW's C names. System libfftw3f / libfftw3 (Debian
# libfftw3-single3 / libfftw3-double3), reached with ccall through the guru64 interface.
#
# Plans are made with FFTW_MEASURE on scratch buffers (measuring overwrites its arrays, so
# the caller's data is never touched) and cached for the life of the process: a plan is
# keyed by kind, sizes, strides, direction, in-place-ness, SIMD alignment of both buffers
# and thread count, and with those equal FFTW's new-array execute functions may apply it
# to any buffers. FFTW_ESTIMATE plans are up to 10x slower for power-of-two sizes ≥ 256.

const LIBFFTW = Dict(Float32 => "libfftw3f.so.3", Float64 => "libfftw3.so.3")
const LIBFFTW_THREADS = Dict(Float32 => "libfftw3f_threads.so.3", Float64 => "libfftw3_threads.so.3")

const FFTW_FORWARD = Int32(-1)
const FFTW_BACKWARD = Int32(1)
const FFTW_MEASURE = UInt32(0)
const FFTW_DESTROY_INPUT = UInt32(1 << 0)
const FFTW_ESTIMATE = UInt32(1 << 6)

"""
    IODim(n, is, os)

One dimension of an FFTW guru64 problem (`fftw_iodim64`): length `n`, input and output
strides in elements of the respective arrays.
"""
struct IODim
    n::Int
    is::Int
    os::Int
end

# Planning is not thread safe in FFTW: one lock around the cache and the planner.
const PLAN_LOCK = ReentrantLock()
const PLAN_CACHE = Dict{Tuple,Ptr{Cvoid}}()
const THREADS_READY = Dict{DataType,Bool}()

"""
    fftw_library_path(T=Float32) -> String

Absolute path of the FFTW library used for element type `T` (`Float32` or `Float64`).
"""
function fftw_library_path(::Type{T}=Float32) where {T<:Union{Float32,Float64}}
    handle = Libdl.dlopen(LIBFFTW[T])
    return Libdl.dlpath(handle)
end

# The @eval loop generates the single- and double-precision bindings from one template.
for (T, prefix) in ((Float32, "fftwf_"), (Float64, "fftw_"))
    lib = LIBFFTW[T]
    tlib = LIBFFTW_THREADS[T]
    sym(name) = QuoteNode(Symbol(prefix, name))
    @eval begin
        function set_planner_threads(::Type{$T}, nthreads::Integer)
            if !get(THREADS_READY, $T, false)
                ccall(($(sym("init_threads")), $tlib), Cint, ())
                THREADS_READY[$T] = true
            end
            ccall(($(sym("plan_with_nthreads")), $tlib), Cvoid, (Cint,), nthreads)
        end
        alignment_of(::Type{$T}, p::Ptr) = Int(ccall(($(sym("alignment_of")), $lib), Cint, (Ptr{Cvoid},), p))
        function guru_c2c(::Type{$T}, dims::Vector{IODim}, howmany::Vector{IODim}, src::Ptr, dst::Ptr,
                          sign::Int32, flags::UInt32)
            ccall(($(sym("plan_guru64_dft")), $lib), Ptr{Cvoid},
                  (Cint, Ptr{IODim}, Cint, Ptr{IODim}, Ptr{Cvoid}, Ptr{Cvoid}, Cint, Cuint),
                  length(dims), dims, length(howmany), howmany, src, dst, sign, flags)
        end
        function guru_r2c(::Type{$T}, dims::Vector{IODim}, howmany::Vector{IODim}, src::Ptr, dst::Ptr,
                          sign::Int32, flags::UInt32)
            ccall(($(sym("plan_guru64_dft_r2c")), $lib), Ptr{Cvoid},
                  (Cint, Ptr{IODim}, Cint, Ptr{IODim}, Ptr{Cvoid}, Ptr{Cvoid}, Cuint),
                  length(dims), dims, length(howmany), howmany, src, dst, flags)
        end
        function guru_c2r(::Type{$T}, dims::Vector{IODim}, howmany::Vector{IODim}, src::Ptr, dst::Ptr,
                          sign::Int32, flags::UInt32)
            ccall(($(sym("plan_guru64_dft_c2r")), $lib), Ptr{Cvoid},
                  (Cint, Ptr{IODim}, Cint, Ptr{IODim}, Ptr{Cvoid}, Ptr{Cvoid}, Cuint),
                  length(dims), dims, length(howmany), howmany, src, dst, flags | FFTW_DESTROY_INPUT)
        end
        execute_c2c(::Type{$T}, plan, src, dst) =
            ccall(($(sym("execute_dft")), $lib), Cvoid, (Ptr{Cvoid}, Ptr{Cvoid}, Ptr{Cvoid}), plan, src, dst)
        execute_r2c(::Type{$T}, plan, src, dst) =
            ccall(($(sym("execute_dft_r2c")), $lib), Cvoid, (Ptr{Cvoid}, Ptr{Cvoid}, Ptr{Cvoid}), plan, src, dst)
        execute_c2r(::Type{$T}, plan, src, dst) =
            ccall(($(sym("execute_dft_c2r")), $lib), Cvoid, (Ptr{Cvoid}, Ptr{Cvoid}, Ptr{Cvoid}), plan, src, dst)
    end
end

# Number of elements a strided layout spans. For r2c/c2r the last (row-major) dimension is
# the packed one: n real values on the real side, n÷2+1 complex values on the complex side
# (`half_last`: the output of r2c, the input of c2r).
function layout_extent(dims::Vector{IODim}, howmany::Vector{IODim}, input::Bool, half_last::Bool)
    extent = 1
    for (j, d) in enumerate(dims)
        n = (half_last && j == length(dims)) ? d.n ÷ 2 + 1 : d.n
        extent += (n - 1) * abs(input ? d.is : d.os)
    end
    for d in howmany
        extent += (d.n - 1) * abs(input ? d.is : d.os)
    end
    return extent
end

# A zero-filled scratch buffer whose pointer has the given SIMD alignment offset, so that a
# plan measured on it is valid for the caller's buffers.
function scratch_pointer!(keep::Vector{Any}, nbytes::Integer, offset::Integer)
    buffer = zeros(UInt8, nbytes + 128)
    push!(keep, buffer)
    base = pointer(buffer)
    base += (64 - Int(UInt(base) % 64)) % 64   # Julia aligns large arrays to 64 bytes already
    return base + offset
end

"""
    fftw_plan(T, kind, dims, howmany, sign, src_alignment, dst_alignment, inplace; nthreads=1) -> Ptr{Cvoid}
    fftw_plan(T, kind, dims, howmany, sign, src::Ptr, dst::Ptr; nthreads=1)

Cached FFTW guru64 plan, `kind` ∈ (:c2c, :r2c, :c2r), valid for buffers with the given SIMD
alignment offsets (`alignment_of`) and in-place-ness. `dims`/`howmany` are row-major (FFTW
order: the last entry of `dims` varies fastest and is the halved one for r2c/c2r).
Measured on scratch buffers, so no caller data is touched.
"""
function fftw_plan(::Type{T}, kind::Symbol, dims::Vector{IODim}, howmany::Vector{IODim}, sign::Int32,
                   src_alignment::Int, dst_alignment::Int, inplace::Bool;
                   nthreads::Integer=1) where {T<:Union{Float32,Float64}}
    key = (T, kind, Tuple(dims), Tuple(howmany), sign, inplace, src_alignment, dst_alignment, Int(nthreads))
    lock(PLAN_LOCK)
    try
        cached = get(PLAN_CACHE, key, C_NULL)
        cached != C_NULL && return cached
        set_planner_threads(T, nthreads)
        in_size = kind === :r2c ? sizeof(T) : 2 * sizeof(T)
        out_size = kind === :c2r ? sizeof(T) : 2 * sizeof(T)
        keep = Any[]
        src_bytes = layout_extent(dims, howmany, true, kind === :c2r) * in_size
        dst_bytes = layout_extent(dims, howmany, false, kind === :r2c) * out_size
        scratch_src = scratch_pointer!(keep, max(src_bytes, inplace ? dst_bytes : 0), src_alignment)
        scratch_dst = inplace ? scratch_src : scratch_pointer!(keep, dst_bytes, dst_alignment)
        make = kind === :c2c ? guru_c2c : kind === :r2c ? guru_r2c : guru_c2r
        plan = GC.@preserve keep make(T, dims, howmany, Ptr{Cvoid}(scratch_src), Ptr{Cvoid}(scratch_dst), sign,
                                      FFTW_MEASURE)
        plan == C_NULL && error("FFTW could not create a $kind plan for dims $(dims), howmany $(howmany)")
        PLAN_CACHE[key] = plan
        return plan
    finally
        unlock(PLAN_LOCK)
    end
end

fftw_plan(::Type{T}, kind::Symbol, dims::Vector{IODim}, howmany::Vector{IODim}, sign::Int32, src::Ptr, dst::Ptr;
          nthreads::Integer=1) where {T<:Union{Float32,Float64}} =
    fftw_plan(T, kind, dims, howmany, sign, alignment_of(T, src), alignment_of(T, dst), UInt(src) == UInt(dst);
              nthreads=nthreads)

"Row-major guru dims for contiguous column-major arrays of shape `n` (Julia order)."
function contiguous_dims(n::Dims, in_first::Int, out_first::Int)
    dims = IODim[]
    in_stride, out_stride = 1, 1
    for d in 1:length(n)
        pushfirst!(dims, IODim(n[d], in_stride, out_stride))
        in_stride *= d == 1 ? in_first : n[d]
        out_stride *= d == 1 ? out_first : n[d]
    end
    return dims, in_stride, out_stride
end

planner_threads(elements::Integer) = elements >= (1 << 16) ? Threads.nthreads() : 1

"""
    fft_batched!(dst, src, n::Dims, howmany, direction)

Unnormalised complex DFT of `howmany` contiguous arrays of shape `n` (column-major),
`direction` = -1 (forward) or +1 (backward). `src === dst` is allowed (in place).
Large problems use FFTW's own threads.
"""
function fft_batched!(dst::DenseArray{Complex{T}}, src::DenseArray{Complex{T}}, n::Dims, howmany::Integer,
                      direction::Integer) where {T<:Union{Float32,Float64}}
    length(src) == length(dst) == prod(n) * howmany || throw(DimensionMismatch("fft_batched!: sizes"))
    howmany == 0 && return dst
    dims, in_total, out_total = contiguous_dims(n, n[1], n[1])
    many = howmany == 1 ? IODim[] : [IODim(howmany, in_total, out_total)]
    GC.@preserve src dst begin
        ps, pd = pointer(src), pointer(dst)
        plan = fftw_plan(T, :c2c, dims, many, Int32(direction), ps, pd; nthreads=planner_threads(length(src)))
        execute_c2c(T, plan, ps, pd)
    end
    return dst
end

"""
    rfft_batched!(dst, src, n::Dims, howmany)

Unnormalised real-to-complex DFT of `howmany` real arrays of shape `n`; the first
dimension of each output is `n[1] ÷ 2 + 1` (column-major half spectrum). `src` is kept.
"""
function rfft_batched!(dst::DenseArray{Complex{T}}, src::DenseArray{T}, n::Dims, howmany::Integer) where {T<:Union{Float32,Float64}}
    h = n[1] ÷ 2 + 1
    length(src) == prod(n) * howmany && length(dst) == h * prod(Base.tail(n)) * howmany ||
        throw(DimensionMismatch("rfft_batched!: sizes"))
    howmany == 0 && return dst
    dims, in_total, out_total = contiguous_dims(n, n[1], h)
    many = howmany == 1 ? IODim[] : [IODim(howmany, in_total, out_total)]
    GC.@preserve src dst begin
        ps, pd = pointer(src), pointer(dst)
        plan = fftw_plan(T, :r2c, dims, many, FFTW_FORWARD, ps, pd; nthreads=planner_threads(length(src)))
        execute_r2c(T, plan, ps, pd)
    end
    return dst
end

"""
    irfft_batched!(dst, src, n::Dims, howmany)

Unnormalised complex-to-real inverse DFT (real output of shape `n` per batch item).
`src` is overwritten (FFTW destroys the input of c2r transforms).
"""
function irfft_batched!(dst::DenseArray{T}, src::DenseArray{Complex{T}}, n::Dims, howmany::Integer) where {T<:Union{Float32,Float64}}
    h = n[1] ÷ 2 + 1
    length(dst) == prod(n) * howmany && length(src) == h * prod(Base.tail(n)) * howmany ||
        throw(DimensionMismatch("irfft_batched!: sizes"))
    howmany == 0 && return dst
    dims, in_total, out_total = contiguous_dims(n, h, n[1])
    many = howmany == 1 ? IODim[] : [IODim(howmany, in_total, out_total)]
    GC.@preserve src dst begin
        ps, pd = pointer(src), pointer(dst)
        plan = fftw_plan(T, :c2r, dims, many, FFTW_BACKWARD, ps, pd; nthreads=planner_threads(length(dst)))
        execute_c2r(T, plan, ps, pd)
    end
    return dst
end
