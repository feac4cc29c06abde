# The C-ABI door into RecovarCore. Python (recovar_jl/_julia.py) calls one @cfunction,
# `call_kernel`, with a kernel name and an array of `ArgDesc`; every kernel is a plain
# Julia function registered in `KERNELS` that writes its results into arrays it is given.

"""
    ArgDesc

One argument as Python hands it over (mirrors `_ArgDesc` in `recovar_jl/_julia.py`).
`kind`: 0 array, 1 integer, 2 float, 3 string. Arrays: `eltype` indexes `ELTYPES`, `dims`
are NumPy's (C order); Julia sees the same memory with the dimensions reversed.
"""
struct ArgDesc
    kind::Int64
    eltype::Int64
    ndim::Int64
    ptr::UInt64
    ival::Int64
    fval::Float64
    dims::NTuple{8,Int64}
end

const ELTYPES = (Float32, Float64, ComplexF32, ComplexF64, Int32, Int64, UInt8, Bool)

"Kernel table: name => function, filled by `register_kernel` in each concern's file."
const KERNELS = Dict{String,Any}()

"""
    register_kernel(name, f)

Make `f` callable from Python as `recovar_jl._julia.call(name, args...)`. `f` receives
arrays as column-major views of the NumPy buffers (dimensions reversed), integers as `Int`,
floats as `Float64`, strings as `String`; it returns nothing and writes into its outputs.
"""
register_kernel(name::AbstractString, f) = (KERNELS[String(name)] = f; nothing)

function wrap_array(::Type{T}, d::ArgDesc) where {T}
    dims = ntuple(i -> Int(d.dims[d.ndim + 1 - i]), Int(d.ndim))
    return unsafe_wrap(Array, Ptr{T}(d.ptr), dims; own=false)
end

function wrap_argument(d::ArgDesc)
    d.kind == 0 && return wrap_array(ELTYPES[d.eltype], d)
    d.kind == 1 && return d.ival
    d.kind == 2 && return d.fval
    d.kind == 3 && return unsafe_string(Ptr{UInt8}(d.ptr), d.ival)
    throw(ArgumentError("unknown argument kind $(d.kind)"))
end

function write_message(buffer::Ptr{UInt8}, capacity::Integer, message::AbstractString)
    bytes = codeunits(String(message))
    n = min(length(bytes), capacity - 1)
    n > 0 && GC.@preserve bytes unsafe_copyto!(buffer, pointer(bytes), n)
    unsafe_store!(buffer, 0x00, n + 1)
end

function call_kernel(name::Cstring, args::Ptr{ArgDesc}, nargs::Cint,
                     message::Ptr{UInt8}, capacity::Csize_t)::Cint
    try
        kernel_name = unsafe_string(name)
        f = get(KERNELS, kernel_name, nothing)
        f === nothing && throw(ArgumentError("no kernel named \"$kernel_name\""))
        arguments = Any[wrap_argument(unsafe_load(args, i)) for i in 1:nargs]
        f(arguments...)
        return Cint(0)
    catch err
        text = try
            sprint(showerror, err)
        catch
            "a Julia error that could not be printed"
        end
        write_message(message, capacity, text)
        return Cint(1)
    end
end

"""
    entry_pointer() -> Ptr{Cvoid}

Address of the C-ABI entry point
`int call_kernel(const char *name, ArgDesc *args, int nargs, char *message, size_t capacity)`.
"""
entry_pointer() = @cfunction(call_kernel, Cint, (Cstring, Ptr{ArgDesc}, Cint, Ptr{UInt8}, Csize_t))

"""
    runtime_info() -> String

Julia version, threads, FFTW libraries and the RecovarCore path, one `key: value` a line.
"""
function runtime_info()
    fftw = try
        join((fftw_library_path(Float32), fftw_library_path(Float64)), ", ")
    catch err
        "NOT FOUND ($(sprint(showerror, err)))"
    end
    return join(["julia_version: $(VERSION)",
                  "julia_threads: $(Threads.nthreads())",
                  "fftw: $fftw",
                  "recovarcore: $(pathof(RecovarCore))"], "\n")
end

# Kernels used by the bridge's own tests and benchmarks.
noop(args...) = nothing
function fail_with(message::AbstractString)
    throw(ArgumentError(message))
end
register_kernel("noop", noop)
register_kernel("fail_with", fail_with)
register_kernel("bounds_error", a -> a[length(a) + 1])
