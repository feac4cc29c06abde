# The C-ABI entry point: dispatch by name, argument wrapping, errors caught in Julia.
using RecovarCore: ArgDesc, call_kernel, entry_pointer, KERNELS

function call_by_name(name, args::Vector{ArgDesc})
    message = zeros(UInt8, 512)
    status = GC.@preserve message args call_kernel(Base.unsafe_convert(Cstring, name), pointer(args),
                                                   Cint(length(args)), pointer(message), Csize_t(512))
    return status, String(message[1:something(findfirst(==(0x00), message), 513) - 1])
end

array_desc(a::Array{Float64}) = ArgDesc(0, 2, ndims(a), UInt64(pointer(a)), 0, 0.0,
                                        ntuple(i -> i <= ndims(a) ? size(a, ndims(a) + 1 - i) : 0, 8))

@testset "known kernel succeeds, unknown fails with a message" begin
    @test call_by_name("noop", ArgDesc[])[1] == 0
    status, msg = call_by_name("no_such_kernel", ArgDesc[])
    @test status == 1 && occursin("no_such_kernel", msg)
end

@testset "exceptions thrown inside a kernel are caught and described" begin
    a = zeros(3)
    status, msg = GC.@preserve a call_by_name("bounds_error", [array_desc(a)])
    @test status == 1 && occursin("BoundsError", msg)
    f(x) = error("probe $x")
    @test (try f(1); false catch; true end)   # needs a working libunwind (see README)
end

@testset "arrays arrive with NumPy's dimensions reversed" begin
    got = Ref{Any}()
    KERNELS["probe_shape"] = x -> (got[] = size(x))
    a = zeros(4, 3)    # Julia (4,3) ↔ NumPy (3,4)
    desc = ArgDesc(0, 2, 2, UInt64(pointer(a)), 0, 0.0, (3, 4, 0, 0, 0, 0, 0, 0))
    @test GC.@preserve a call_by_name("probe_shape", [desc])[1] == 0
    @test got[] == (4, 3)
    delete!(KERNELS, "probe_shape")
    @test entry_pointer() != C_NULL
end

@testset "finish_output returns at once with nothing queued, and after output" begin
    @test RecovarCore.finish_output() === nothing
    RecovarCore.print_text(2, "", 3)
    @test RecovarCore.finish_output() === nothing
end
