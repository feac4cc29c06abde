# The C-ABI door into RecovarCore. Python (recovar_jl/_julia/) hands each call to `serve`,
# which runs `call_kernel` with a kernel name and an array of `ArgDesc`; every kernel is a plain
# Julia function registered in `KERNELS` that writes its results into arrays it is given.

"""
    ArgDesc

One argument as Python hands it over (mirrors `_ArgDesc` in `recovar_jl/_julia/cabi.py`).
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

reversed_dims(dims::NTuple{8,Int64}, ::Val{N}) where {N} = ntuple(i -> Int(dims[N + 1 - i]), Val(N))

function wrap_array(::Type{T}, d::ArgDesc) where {T}
    p = Ptr{T}(d.ptr)
    # One branch per rank keeps each unsafe_wrap type-stable (a runtime-length ntuple is slow).
    n = d.ndim
    n == 1 && return unsafe_wrap(Array, p, reversed_dims(d.dims, Val(1)); own=false)
    n == 2 && return unsafe_wrap(Array, p, reversed_dims(d.dims, Val(2)); own=false)
    n == 3 && return unsafe_wrap(Array, p, reversed_dims(d.dims, Val(3)); own=false)
    n == 4 && return unsafe_wrap(Array, p, reversed_dims(d.dims, Val(4)); own=false)
    n == 0 && return unsafe_wrap(Array, p, (); own=false)
    n == 5 && return unsafe_wrap(Array, p, reversed_dims(d.dims, Val(5)); own=false)
    n == 6 && return unsafe_wrap(Array, p, reversed_dims(d.dims, Val(6)); own=false)
    n == 7 && return unsafe_wrap(Array, p, reversed_dims(d.dims, Val(7)); own=false)
    n == 8 && return unsafe_wrap(Array, p, reversed_dims(d.dims, Val(8)); own=false)
    throw(ArgumentError("arrays of rank $n are not supported"))
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
    JobSlot

The mailbox between Python callers and `serve` (mirrors `_JobSlot` in `recovar_jl/_julia/cabi.py`).
"""
struct JobSlot
    name::Cstring
    args::Ptr{ArgDesc}
    nargs::Cint
    status::Cint
    message::Ptr{UInt8}
    capacity::Csize_t
    stop::Cint
end

function semaphore_wait(sem::Ptr{Cvoid})
    # Spin briefly first: back-to-back kernel calls then cost no sleep/wake-up.
    t0 = time_ns()
    while time_ns() - t0 < SPIN_NS
        ccall(:sem_trywait, Cint, (Ptr{Cvoid},), sem) == 0 && return
        ccall(:sched_yield, Cint, ())
    end
    while ccall(:sem_wait, Cint, (Ptr{Cvoid},), sem) != 0
        Libc.errno() == Libc.EINTR || error("sem_wait failed: errno $(Libc.errno())")
    end
end

const SPIN_NS = 50_000

"""
    serve(slot, request, done)

The bridge thread's loop: wait on the POSIX semaphore `request`, run the job described in
`slot` through `call_kernel`, post `done`; return when `slot.stop` is set. Python never
holds the GIL on this thread, so a call costs two semaphore hand-offs.
"""
function serve(slot::Ptr{JobSlot}, request::Ptr{Cvoid}, done::Ptr{Cvoid})
    while true
        semaphore_wait(request)
        job = unsafe_load(slot)
        job.stop != 0 && break
        status = call_kernel(job.name, job.args, job.nargs, job.message, job.capacity)
        finish_output()
        unsafe_store!(Ptr{Cint}(slot + fieldoffset(JobSlot, 4)), status)
        ccall(:sem_post, Cint, (Ptr{Cvoid},), done)
    end
    return nothing
end

"""
    finish_output()

Wait until what Julia wrote to its stdout/stderr has left libuv's queue. The bridge gives
Julia non-blocking pipes of its own (docs/bridge.md); a write that finds the pipe full is
queued and would only be sent the next time Julia's event loop runs, so it could be lost
at exit or arrive after Python's later output. Costs nothing when nothing is queued.
"""
function finish_output()
    for io in (stdout, stderr)
        io isa Base.LibuvStream && io.handle != C_NULL || continue
        queued = ccall(:uv_stream_get_write_queue_size, Csize_t, (Ptr{Cvoid},), io.handle)
        buffered = io.sendbuf !== nothing && bytesavailable(io.sendbuf) > 0
        if queued > 0 || buffered
            try
                flush(io)
            catch  # the reader has gone (EPIPE): nothing left to deliver
            end
        end
    end
end

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

"""
    fftw_problem() -> String

`""` when every FFTW library RecovarCore calls (`LIBFFTW`, `LIBFFTW_THREADS`) loads, else one
line per library that does not, with the loader's reason. The bridge asks this at start-up
so that a missing FFTW is reported before the first transform, not in the middle of one.
"""
function fftw_problem()
    problems = String[]
    for lib in (LIBFFTW[Float32], LIBFFTW_THREADS[Float32], LIBFFTW[Float64], LIBFFTW_THREADS[Float64])
        try
            Libdl.dlopen(lib)
        catch err
            reason = replace(sprint(showerror, err), '\n' => ' ')
            push!(problems, "$lib: $reason")
        end
    end
    return join(problems, "\n")
end

"Kernel form of `runtime_info`: writes the text, NUL-terminated, into the byte buffer `out`."
runtime_info!(out::Vector{UInt8}) = write_message(pointer(out), length(out), runtime_info())
register_kernel("runtime_info", runtime_info!)

# Kernels used by the bridge's own tests and benchmarks.
noop(args...) = nothing
function fail_with(message::AbstractString)
    throw(ArgumentError(message))
end
register_kernel("noop", noop)
register_kernel("fail_with", fail_with)
register_kernel("bounds_error", a -> a[length(a) + 1])
register_kernel("busy_wait", seconds -> (t0 = time(); while time() - t0 < seconds; end))
# Julia's own output from inside a kernel (stream 1 stdout, 2 stderr; `text` `count` times).
function print_text(stream::Integer, text::AbstractString, count::Integer)
    io = stream == 1 ? stdout : stderr
    for _ in 1:count
        print(io, text)
    end
end
register_kernel("print_text", print_text)
register_kernel("warn", message -> @warn(message))
# Faults inside Julia: a stack overflow (a StackOverflowError) and a read of a bad address.
recurse(n::Integer) = n == typemin(Int) ? 0 : recurse(n + 1) + 1
register_kernel("recurse", n -> (recurse(n); nothing))
register_kernel("read_address", (out, address) -> (out[1] = unsafe_load(Ptr{Int}(address)); nothing))
