# The only file that knows FFTW's C names. System libfftw3f / libfftw3 (Debian
# libfftw3-single3 / libfftw3-double3), reached with ccall; plans cached and reused.

const LIBFFTW = Dict(Float32 => "libfftw3f.so.3", Float64 => "libfftw3.so.3")
const LIBFFTW_THREADS = Dict(Float32 => "libfftw3f_threads.so.3", Float64 => "libfftw3_threads.so.3")

const FFTW_FORWARD = Int32(-1)
const FFTW_BACKWARD = Int32(1)
const FFTW_ESTIMATE = UInt32(1 << 6)
const FFTW_DESTROY_INPUT = UInt32(1 << 0)

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
        function init_threads(::Type{$T})
            get(THREADS_READY, $T, false) && return
            ccall(($(sym("init_threads")), $tlib), Cint, ())
            ccall(($(sym("plan_with_nthreads")), $tlib), Cvoid, (Cint,), Threads.nthreads())
            THREADS_READY[$T] = true
        end
        alignment_of(::Type{$T}, p::Ptr) = ccall(($(sym("alignment_of")), $lib), Cint, (Ptr{Cvoid},), p)
        function plan_many_c2c(::Type{$T}, n::Vector{Cint}, howmany, src::Ptr, dst::Ptr, sign)
            ccall(($(sym("plan_many_dft")), $lib), Ptr{Cvoid},
                  (Cint, Ptr{Cint}, Cint, Ptr{Cvoid}, Ptr{Cint}, Cint, Cint,
                   Ptr{Cvoid}, Ptr{Cint}, Cint, Cint, Cint, Cuint),
                  length(n), n, howmany, src, C_NULL, 1, prod(n), dst, C_NULL, 1, prod(n),
                  sign, FFTW_ESTIMATE)
        end
        function plan_many_r2c(::Type{$T}, n::Vector{Cint}, howmany, src::Ptr, dst::Ptr)
            nh = copy(n); nh[end] = n[end] ÷ 2 + 1
            ccall(($(sym("plan_many_dft_r2c")), $lib), Ptr{Cvoid},
                  (Cint, Ptr{Cint}, Cint, Ptr{Cvoid}, Ptr{Cint}, Cint, Cint,
                   Ptr{Cvoid}, Ptr{Cint}, Cint, Cint, Cuint),
                  length(n), n, howmany, src, C_NULL, 1, prod(n), dst, C_NULL, 1, prod(nh),
                  FFTW_ESTIMATE)
        end
        function plan_many_c2r(::Type{$T}, n::Vector{Cint}, howmany, src::Ptr, dst::Ptr)
            nh = copy(n); nh[end] = n[end] ÷ 2 + 1
            ccall(($(sym("plan_many_dft_c2r")), $lib), Ptr{Cvoid},
                  (Cint, Ptr{Cint}, Cint, Ptr{Cvoid}, Ptr{Cint}, Cint, Cint,
                   Ptr{Cvoid}, Ptr{Cint}, Cint, Cint, Cuint),
                  length(n), n, howmany, src, C_NULL, 1, prod(nh), dst, C_NULL, 1, prod(n),
                  FFTW_ESTIMATE | FFTW_DESTROY_INPUT)
        end
        execute_c2c(::Type{$T}, plan, src, dst) =
            ccall(($(sym("execute_dft")), $lib), Cvoid, (Ptr{Cvoid}, Ptr{Cvoid}, Ptr{Cvoid}), plan, src, dst)
        execute_r2c(::Type{$T}, plan, src, dst) =
            ccall(($(sym("execute_dft_r2c")), $lib), Cvoid, (Ptr{Cvoid}, Ptr{Cvoid}, Ptr{Cvoid}), plan, src, dst)
        execute_c2r(::Type{$T}, plan, src, dst) =
            ccall(($(sym("execute_dft_c2r")), $lib), Cvoid, (Ptr{Cvoid}, Ptr{Cvoid}, Ptr{Cvoid}), plan, src, dst)
    end
end

# A plan depends on kind, sizes, batch, in-place-ness and the SIMD alignment of both buffers;
# with those equal, FFTW's new-array execute functions may reuse it on any buffers.
function cached_plan(make::Function, ::Type{T}, key::Tuple, src::Ptr, dst::Ptr) where {T}
    full_key = (T, key..., src == dst, alignment_of(T, src), alignment_of(T, dst))
    lock(PLAN_LOCK) do
        get!(PLAN_CACHE, full_key) do
            init_threads(T)
            plan = make()
            plan == C_NULL && error("FFTW could not create a plan for $(full_key)")
            plan
        end
    end
end

"""
    fft_batched!(dst, src, n::Dims, howmany, direction)

Unnormalised complex DFT of `howmany` contiguous arrays of shape `n` (column-major),
`direction` = -1 (forward) or +1 (backward). `src === dst` is allowed (in place).
"""
function fft_batched!(dst::DenseArray{Complex{T}}, src::DenseArray{Complex{T}}, n::Dims, howmany::Integer,
                      direction::Integer) where {T<:Union{Float32,Float64}}
    length(src) == length(dst) == prod(n) * howmany || throw(DimensionMismatch("fft_batched!: sizes"))
    howmany == 0 && return dst
    nrev = Cint[reverse(n)...]   # FFTW takes row-major dimensions
    ps, pd = pointer(src), pointer(dst)
    plan = cached_plan(T, (:c2c, n, howmany, direction), ps, pd) do
        plan_many_c2c(T, nrev, howmany, ps, pd, Int32(direction))
    end
    GC.@preserve src dst execute_c2c(T, plan, ps, pd)
    return dst
end

"""
    rfft_batched!(dst, src, n::Dims, howmany)

Unnormalised real-to-complex DFT of `howmany` real arrays of shape `n`; the first
dimension of each output is `n[1] ÷ 2 + 1` (column-major half spectrum).
"""
function rfft_batched!(dst::DenseArray{Complex{T}}, src::DenseArray{T}, n::Dims, howmany::Integer) where {T<:Union{Float32,Float64}}
    nh = (n[1] ÷ 2 + 1, Base.tail(n)...)
    length(src) == prod(n) * howmany && length(dst) == prod(nh) * howmany ||
        throw(DimensionMismatch("rfft_batched!: sizes"))
    howmany == 0 && return dst
    nrev = Cint[reverse(n)...]
    ps, pd = pointer(src), pointer(dst)
    plan = cached_plan(T, (:r2c, n, howmany), Ptr{Cvoid}(ps), Ptr{Cvoid}(pd)) do
        plan_many_r2c(T, nrev, howmany, ps, pd)
    end
    GC.@preserve src dst execute_r2c(T, plan, ps, pd)
    return dst
end

"""
    irfft_batched!(dst, src, n::Dims, howmany)

Unnormalised complex-to-real inverse DFT (real output of shape `n` per batch item).
`src` is overwritten (FFTW destroys the input of c2r transforms).
"""
function irfft_batched!(dst::DenseArray{T}, src::DenseArray{Complex{T}}, n::Dims, howmany::Integer) where {T<:Union{Float32,Float64}}
    nh = (n[1] ÷ 2 + 1, Base.tail(n)...)
    length(dst) == prod(n) * howmany && length(src) == prod(nh) * howmany ||
        throw(DimensionMismatch("irfft_batched!: sizes"))
    howmany == 0 && return dst
    nrev = Cint[reverse(n)...]
    ps, pd = pointer(src), pointer(dst)
    plan = cached_plan(T, (:c2r, n, howmany), Ptr{Cvoid}(ps), Ptr{Cvoid}(pd)) do
        plan_many_c2r(T, nrev, howmany, ps, pd)
    end
    GC.@preserve src dst execute_c2r(T, plan, ps, pd)
    return dst
end
