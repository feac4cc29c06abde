# Centered transforms (recovar's fourier_transform_utils): zero frequency at index n÷2.
# Forward: fftshift ∘ fft ∘ fftshift; inverse: ifftshift ∘ ifft ∘ ifftshift; real transforms
# pack the first Julia dimension (NumPy's last axis) as n÷2+1 non-negative frequencies.
#
# No shifted copy is ever made. By the shift theorem, along one axis of length n with
# s = n÷2,
#     fftshift(fft(fftshift(x)))[k] = exp(-2πi·s·p/n) · fft(x)[p],   p = (k − s) mod n,
# so a centered transform is a plain FFT followed by one gather that permutes and multiplies
# by a per-axis phase (±1 for even n). The FFT runs on cache-sized pieces (a few images, or
# one slice of a volume) into a thread-local buffer and the gather reads that buffer while
# it is still in cache, so a centered FFT costs about as much memory traffic as a plain one.
# Large volumes go in two stages: slices (all axes but the slowest) then blocks of pencils
# along the slowest axis, so no plan is ever larger than one slice (FFTW_MEASURE plans for
# whole 256³ volumes take seconds to make; slice and pencil plans take a fraction of that).
#
# Arrays are column-major views of C-ordered NumPy arrays: a transform over a contiguous range
# of NumPy axes is a transform over dims first:last here, with `inner` batch dims before and
# `outer` batch dims after (e.g. linalg.dft3's (V, m) columns are Julia (m, N2, N1, N0)).

const CHUNK_ELEMENTS = 1 << 15      # elements per FFT piece of the one-stage path (≈ L2 size)
const TWO_STAGE_ELEMENTS = 1 << 17  # transforms (× inner batch) larger than this use two stages
const PENCIL_ELEMENTS = 1 << 14     # elements per block of pencils (≈ 128 KB buffer)

"""
    AxisMap{T}

Gather along one axis: destination index k takes `factor[k] * source[perm[k]]`.
"""
struct AxisMap{T}
    perm::Vector{Int}
    factor::Vector{Complex{T}}
end

"exp(2πi·num/den), exact at multiples of a quarter turn."
function unit_phase(::Type{T}, num::Integer, den::Integer) where {T}
    r = mod(num, den)
    r == 0 && return Complex{T}(1, 0)
    4r == den && return Complex{T}(0, 1)
    2r == den && return Complex{T}(-1, 0)
    4r == 3den && return Complex{T}(0, -1)
    return Complex{T}(cis(2π * r / den))
end

identity_map(::Type{T}, n::Integer) where {T} = AxisMap{T}(collect(1:n), ones(Complex{T}, n))

"Centered complex transform along an axis of length n after the plain FFT (direction ∓1)."
function shift_map(::Type{T}, n::Integer, direction::Integer) where {T}
    s = n ÷ 2
    perm = [mod(direction == -1 ? k - s : k + s, n) for k in 0:n-1]
    return AxisMap{T}(perm .+ 1, [unit_phase(T, -s * p, n) for p in perm])
end

"Packed axis of the forward real transform: only the input fftshift, as a phase."
function packed_forward_map(::Type{T}, n::Integer) where {T}
    s, h = n ÷ 2, n ÷ 2 + 1
    return AxisMap{T}(collect(1:h), [unit_phase(T, -s * k, n) for k in 0:h-1])
end

"Non-packed axis of the inverse real transform, applied to its input: ifftshift as a gather,
the ifftshift of the real output as a phase."
function inverse_real_map(::Type{T}, n::Integer) where {T}
    s = n ÷ 2
    return AxisMap{T}([mod(k + s, n) + 1 for k in 0:n-1], [unit_phase(T, s * k, n) for k in 0:n-1])
end

"Packed axis of the inverse real transform: the output ifftshift as a phase on the input."
function packed_inverse_map(::Type{T}, n::Integer) where {T}
    s, h = n ÷ 2, n ÷ 2 + 1
    return AxisMap{T}(collect(1:h), [unit_phase(T, s * k, n) for k in 0:h-1])
end

scaled(m::AxisMap{T}, scale::Real) where {T} =
    scale == 1 ? m : AxisMap{T}(m.perm, m.factor .* convert(T, scale))

pad_maps(maps::Vector{AxisMap{T}}) where {T} =
    ntuple(d -> d <= length(maps) ? maps[d] : identity_map(T, 1), 3)

"Split `dims` into (inner, transformed sizes, outer) around first:last."
function split_dims(dims::Dims, first_dim::Integer, last_dim::Integer)
    inner = prod(dims[1:first_dim-1])
    outer = prod(dims[last_dim+1:end])
    return inner, dims[first_dim:last_dim], outer
end

pad3(n::Tuple) = ntuple(d -> d <= length(n) ? n[d] : 1, 3)

function check_range(name::AbstractString, nd::Integer, first_dim::Integer, last_dim::Integer)
    1 <= first_dim <= last_dim <= nd ||
        throw(ArgumentError("$name: dims $first_dim:$last_dim are not a range of the $(nd)-d array's dims"))
    last_dim - first_dim < 3 || throw(ArgumentError("$name: at most 3 transformed dims, got $first_dim:$last_dim"))
end

# Run f(lo, hi) on contiguous parts of 1:n, one part per Julia thread (`static_blocks`).
# Each part allocates its own buffers, so nothing is indexed by threadid (safe with any scheduler).
function threaded_parts(f, n::Integer)
    parts = min(Threads.nthreads(), Int(n))
    parts >= 1 || return
    static_blocks(Int(n), parts) do _, items
        f(first(items), last(items))
    end
end

"Items per FFT piece: about CHUNK_ELEMENTS, and enough pieces for every thread (one piece,
so no thread start-up, when everything fits in one)."
function chunk_items(unit::Integer, items::Integer)
    unit * items <= CHUNK_ELEMENTS && return max(items, 1)
    return max(1, min(CHUNK_ELEMENTS ÷ max(unit, 1), cld(items, Threads.nthreads())))
end

"Guru dims of `q` transformed dims (logical sizes n) with `inner` and `count` batches."
function unit_layout(n::NTuple{3,Int}, q::Integer, inner::Integer, count::Integer, in_first::Integer,
                     out_first::Integer)
    dims = IODim[]
    in_stride, out_stride = inner, inner
    for d in 1:q
        pushfirst!(dims, IODim(n[d], in_stride, out_stride))
        in_stride *= d == 1 ? in_first : n[d]
        out_stride *= d == 1 ? out_first : n[d]
    end
    many = IODim[]
    inner > 1 && push!(many, IODim(inner, 1, 1))
    count > 1 && push!(many, IODim(count, in_stride, out_stride))
    return dims, many
end

"""
    gather!(dst, dst_offset, src, src_offset, count, maps)

`dst[i, k1, k2, k3, dst_offset + o] = f1[k1] f2[k2] f3[k3] · src[i, p1[k1], p2[k2], p3[k3], src_offset + o]`
for o in 1:count, on 5-d arrays (inner, axis 1, axis 2, axis 3, items).
"""
function gather!(dst::Array{Complex{T},5}, dst_offset::Int, src::Array{Complex{T},5}, src_offset::Int,
                 count::Int, maps::NTuple{3,AxisMap{T}}) where {T}
    inner, m1, m2, m3, _ = size(dst)
    size(src, 1) == inner || throw(DimensionMismatch("gather!: inner sizes"))
    for d in 1:3
        length(maps[d].perm) == length(maps[d].factor) == size(dst, d + 1) ||
            throw(DimensionMismatch("gather!: map $d has the wrong length"))
        all(p -> 1 <= p <= size(src, d + 1), maps[d].perm) || throw(BoundsError(src))
    end
    0 <= dst_offset && 0 <= src_offset && dst_offset + count <= size(dst, 5) && src_offset + count <= size(src, 5) ||
        throw(BoundsError(dst))
    if inner == 1
        gather_rows!(dst, dst_offset, src, src_offset, count, maps)
    else
        gather_inner!(dst, dst_offset, src, src_offset, count, maps)
    end
    return dst
end

"Runs of consecutive source indices in a permutation: (first k, last k, source offset)."
function index_runs(perm::Vector{Int})
    runs = Tuple{Int,Int,Int}[]
    first_k = 1
    for k in 2:length(perm)+1
        if k > length(perm) || perm[k] != perm[k-1] + 1
            push!(runs, (first_k, k - 1, perm[first_k] - first_k))
            first_k = k
        end
    end
    return runs
end

# inner == 1: rows along axis 1 are contiguous and a circular shift is two runs of
# consecutive indices, so the innermost loop is a unit-stride multiply (vectorised).
function gather_rows!(dst::Array{Complex{T},5}, dst_offset::Int, src::Array{Complex{T},5}, src_offset::Int,
                      count::Int, maps::NTuple{3,AxisMap{T}}) where {T}
    _, m1, m2, m3, _ = size(dst)
    _, s1, s2, s3, _ = size(src)
    p2, p3 = maps[2].perm, maps[3].perm
    f1, f2, f3 = maps[1].factor, maps[2].factor, maps[3].factor
    runs = index_runs(maps[1].perm)
    @inbounds for o in 1:count, k3 in 1:m3
        q3, a3 = p3[k3], f3[k3]
        for k2 in 1:m2
            q2, a23 = p2[k2], a3 * f2[k2]
            dbase = m1 * ((k2 - 1) + m2 * ((k3 - 1) + m3 * (dst_offset + o - 1)))
            sbase = s1 * ((q2 - 1) + s2 * ((q3 - 1) + s3 * (src_offset + o - 1)))
            for (k_first, k_last, offset) in runs
                @simd for k1 in k_first:k_last
                    dst[dbase + k1] = (a23 * f1[k1]) * src[sbase + k1 + offset]
                end
            end
        end
    end
end

function gather_inner!(dst::Array{Complex{T},5}, dst_offset::Int, src::Array{Complex{T},5}, src_offset::Int,
                       count::Int, maps::NTuple{3,AxisMap{T}}) where {T}
    inner, m1, m2, m3, _ = size(dst)
    p1, p2, p3 = maps[1].perm, maps[2].perm, maps[3].perm
    f1, f2, f3 = maps[1].factor, maps[2].factor, maps[3].factor
    @inbounds for o in 1:count, k3 in 1:m3
        q3, a3 = p3[k3], f3[k3]
        for k2 in 1:m2
            q2, a23 = p2[k2], a3 * f2[k2]
            for k1 in 1:m1
                q1, a = p1[k1], a23 * f1[k1]
                @simd for i in 1:inner
                    dst[i, k1, k2, k3, dst_offset + o] = a * src[i, q1, q2, q3, src_offset + o]
                end
            end
        end
    end
end

# Plans for the full and the last piece, made before threads start (FFTW_MEASURE timings are
# then undisturbed); pieces whose alignment differs get their own plan on first use.
function plan_pieces(::Type{T}, kind::Symbol, n, q, inner, items, per_piece, in_first, out_first, sign,
                     src_align::Int, dst_align::Int, inplace::Bool) where {T}
    for count in unique((min(per_piece, items), items - (cld(items, per_piece) - 1) * per_piece))
        dims, many = unit_layout(n, q, inner, count, in_first, out_first)
        fftw_plan(T, kind, dims, many, sign, src_align, dst_align, inplace)
    end
end

"""
    unit_pass_c2c!(dst, src, q, maps, sign)

Complex DFT over dims 2:q+1 of the 5-d `src` (real or complex), then the gather `maps`, into
`dst`. `dst === src` is allowed: each piece is read completely before it is written.
"""
function unit_pass_c2c!(dst::Array{Complex{T},5}, src::Array{S,5}, q::Int, maps::NTuple{3,AxisMap{T}},
                        sign::Int32) where {T<:Union{Float32,Float64},S<:Union{T,Complex{T}}}
    inner, n1, n2, n3, items = size(src)
    n = (n1, n2, n3)
    unit = inner * n1 * n2 * n3
    per_piece = chunk_items(unit, items)
    pieces = cld(items, per_piece)
    real_input = S <: Real
    src_align = real_input ? 0 : alignment_of(T, pointer(src))
    plan_pieces(T, :c2c, n, q, inner, items, per_piece, n1, n1, sign, src_align, 0, real_input)
    threaded_parts(pieces) do lo, hi
        work = Array{Complex{T}}(undef, inner, n1, n2, n3, per_piece)
        for piece in lo:hi
            o0 = (piece - 1) * per_piece
            count = min(per_piece, items - o0)
            dims, many = unit_layout(n, q, inner, count, n1, n1)
            GC.@preserve src work begin
                pw = pointer(work)
                if real_input
                    base = o0 * unit
                    @inbounds for j in 1:count*unit
                        work[j] = src[base + j]
                    end
                    execute_c2c(T, fftw_plan(T, :c2c, dims, many, sign, pw, pw), pw, pw)
                else
                    ps = pointer(src, o0 * unit + 1)
                    execute_c2c(T, fftw_plan(T, :c2c, dims, many, sign, ps, pw), ps, pw)
                end
            end
            gather!(dst, o0, work, 0, count, maps)
        end
    end
    return dst
end

"""
    unit_pass_r2c!(dst, src, q, maps)

Real-to-complex DFT over dims 2:q+1 (dim 2 packed to n÷2+1), then the gather `maps`.
"""
function unit_pass_r2c!(dst::Array{Complex{T},5}, src::Array{T,5}, q::Int, maps::NTuple{3,AxisMap{T}}) where {T<:Union{Float32,Float64}}
    inner, n1, n2, n3, items = size(src)
    h1 = n1 ÷ 2 + 1
    n = (n1, n2, n3)
    unit_in, unit_out = inner * n1 * n2 * n3, inner * h1 * n2 * n3
    per_piece = chunk_items(unit_out, items)
    pieces = cld(items, per_piece)
    plan_pieces(T, :r2c, n, q, inner, items, per_piece, n1, h1, FFTW_FORWARD, alignment_of(T, pointer(src)), 0, false)
    threaded_parts(pieces) do lo, hi
        work = Array{Complex{T}}(undef, inner, h1, n2, n3, per_piece)
        for piece in lo:hi
            o0 = (piece - 1) * per_piece
            count = min(per_piece, items - o0)
            dims, many = unit_layout(n, q, inner, count, n1, h1)
            GC.@preserve src work begin
                ps, pw = pointer(src, o0 * unit_in + 1), pointer(work)
                execute_r2c(T, fftw_plan(T, :r2c, dims, many, FFTW_FORWARD, ps, pw), ps, pw)
            end
            gather!(dst, o0, work, 0, count, maps)
        end
    end
    return dst
end

"""
    unit_pass_c2r!(dst, src, q, maps)

The gather `maps` on the half spectrum `src`, then the complex-to-real DFT over dims
2:q+1 (dim 2 unpacked from n÷2+1 to the size of `dst`). `src` is not modified.
"""
function unit_pass_c2r!(dst::Array{T,5}, src::Array{Complex{T},5}, q::Int, maps::NTuple{3,AxisMap{T}}) where {T<:Union{Float32,Float64}}
    inner, n1, n2, n3, items = size(dst)
    h1 = n1 ÷ 2 + 1
    n = (n1, n2, n3)
    unit_out = inner * n1 * n2 * n3
    per_piece = chunk_items(inner * h1 * n2 * n3, items)
    pieces = cld(items, per_piece)
    plan_pieces(T, :c2r, n, q, inner, items, per_piece, h1, n1, FFTW_BACKWARD, 0, alignment_of(T, pointer(dst)), false)
    threaded_parts(pieces) do lo, hi
        work = Array{Complex{T}}(undef, inner, h1, n2, n3, per_piece)
        for piece in lo:hi
            o0 = (piece - 1) * per_piece
            count = min(per_piece, items - o0)
            gather!(work, 0, src, o0, count, maps)
            dims, many = unit_layout(n, q, inner, count, h1, n1)
            GC.@preserve dst work begin
                pw, pd = pointer(work), pointer(dst, o0 * unit_out + 1)
                execute_c2r(T, fftw_plan(T, :c2r, dims, many, FFTW_BACKWARD, pw, pd), pw, pd)
            end
        end
    end
    return dst
end

"""
    pencil_pass!(dst, src, pre, post, sign)

Complex DFT along dim 2 of the 3-d arrays (M, n, items): per block of B contiguous rows,
`buf[b, k] = pre.factor[k] · src[j+b, pre.perm[k], o]`, DFT along k, then
`dst[j+b, k, o] = post.factor[k] · buf[b, post.perm[k]]`. `dst === src` is allowed.
"""
function pencil_pass!(dst::Array{Complex{T},3}, src::Array{Complex{T},3}, pre::AxisMap{T}, post::AxisMap{T},
                      sign::Int32) where {T<:Union{Float32,Float64}}
    M, n, items = size(src)
    size(dst) == size(src) || throw(DimensionMismatch("pencil_pass!: dst $(size(dst)) vs src $(size(src))"))
    length(pre.perm) == length(pre.factor) == length(post.perm) == length(post.factor) == n ||
        throw(DimensionMismatch("pencil_pass!: maps must have length $n"))
    all(p -> 1 <= p <= n, pre.perm) && all(p -> 1 <= p <= n, post.perm) || throw(BoundsError(src))
    B = clamp(PENCIL_ELEMENTS ÷ n, 1, M)
    blocks = cld(M, B)
    for count in unique((B, M - (blocks - 1) * B))
        fftw_plan(T, :c2c, [IODim(n, B, B)], count > 1 ? [IODim(count, 1, 1)] : IODim[], sign, 0, 0, true)
    end
    threaded_parts(blocks * items) do lo, hi
        buf = Array{Complex{T}}(undef, B, n)
        for job in lo:hi
            o = (job - 1) ÷ blocks + 1
            j0 = ((job - 1) % blocks) * B
            count = min(B, M - j0)
            @inbounds for k in 1:n
                q, a = pre.perm[k], pre.factor[k]
                for b in 1:count
                    buf[b, k] = a * src[j0 + b, q, o]
                end
            end
            GC.@preserve buf begin
                pb = pointer(buf)
                many = count > 1 ? [IODim(count, 1, 1)] : IODim[]
                execute_c2c(T, fftw_plan(T, :c2c, [IODim(n, B, B)], many, sign, pb, pb), pb, pb)
            end
            @inbounds for k in 1:n
                q, a = post.perm[k], post.factor[k]
                for b in 1:count
                    dst[j0 + b, k, o] = a * buf[b, q]
                end
            end
        end
    end
    return dst
end

# One reusable scratch buffer per element type for the full-size intermediate of large inverse
# real transforms: fresh memory of that size is mmap'ed and page-faulted on every call, which
# costs a quarter of a 256³ transform. Buffers up to SCRATCH_KEEP_BYTES are kept between calls.
const SCRATCH_KEEP_BYTES = 1 << 30
const SCRATCH = Dict{DataType,Any}()
const SCRATCH_LOCK = ReentrantLock()

"""
    with_scratch(f, T, dims)

Call `f(work)` with an uninitialised `Array{T}` of size `dims` that may be reused by later
calls (never by two calls at once).
"""
function with_scratch(f, ::Type{T}, dims::Dims) where {T}
    n = prod(dims)
    lock(SCRATCH_LOCK)
    buffer = try
        pop!(SCRATCH, T, nothing)
    finally
        unlock(SCRATCH_LOCK)
    end
    if !(buffer isa Vector{T}) || length(buffer) < n
        buffer = Vector{T}(undef, n)
    end
    try
        GC.@preserve buffer f(unsafe_wrap(Array, pointer(buffer), dims; own=false))
    finally
        if sizeof(buffer) <= SCRATCH_KEEP_BYTES
            lock(SCRATCH_LOCK)
            try
                kept = get(SCRATCH, T, nothing)
                (kept === nothing || length(kept) < length(buffer)) && (SCRATCH[T] = buffer)
            finally
                unlock(SCRATCH_LOCK)
            end
        end
    end
    return nothing
end

two_stage(inner::Integer, n::Tuple) = length(n) >= 2 && inner * prod(n) > TWO_STAGE_ELEMENTS

"""
    centered_fft!(dst, src, first_dim, last_dim, direction, scale)
    centered_fft!(dst, src, ndims_transformed, direction, scale)   # dims 1:ndims_transformed

Centered complex DFT over dims first_dim:last_dim (at most 3) of `src` (real or complex;
other dims are batch), written to `dst` (same size, complex; `dst === src` allowed for
complex input), multiplied by `scale`. `direction` -1: `fftshift(fft(fftshift(x)))`;
+1: `ifftshift(bfft(ifftshift(x)))` (unnormalised; `scale` carries the norm).
"""
function centered_fft!(dst::Array{Complex{T}}, src::Array{S}, first_dim::Integer, last_dim::Integer,
                       direction::Integer, scale::Real) where {T<:Union{Float32,Float64},S<:Union{T,Complex{T}}}
    size(dst) == size(src) || throw(DimensionMismatch("centered_fft!: dst $(size(dst)) vs src $(size(src))"))
    check_range("centered_fft!", ndims(src), first_dim, last_dim)
    direction in (-1, 1) || throw(ArgumentError("centered_fft!: direction must be -1 or 1, got $direction"))
    isempty(src) && return dst
    inner, n, outer = split_dims(size(src), first_dim, last_dim)
    r = length(n)
    sign = Int32(direction)
    maps = [shift_map(T, n[d], direction) for d in 1:r]
    maps[r] = scaled(maps[r], scale)
    if two_stage(inner, n)
        slices = n[r] * outer
        slice_dims = (inner, pad3(n[1:r-1])..., slices)
        unit_pass_c2c!(reshape(dst, slice_dims), reshape(src, slice_dims), r - 1, pad_maps(maps[1:r-1]), sign)
        pencils = reshape(dst, (inner * prod(n[1:r-1]), n[r], outer))
        pencil_pass!(pencils, pencils, identity_map(T, n[r]), maps[r], sign)
    else
        dims5 = (inner, pad3(n)..., outer)
        unit_pass_c2c!(reshape(dst, dims5), reshape(src, dims5), r, pad_maps(maps), sign)
    end
    return dst
end

centered_fft!(dst::Array, src::Array, ndims_transformed::Integer, direction::Integer, scale::Real) =
    centered_fft!(dst, src, 1, ndims_transformed, direction, scale)

"""
    centered_rfft!(dst, src, first_dim, last_dim, scale)
    centered_rfft!(dst, src, ndims_transformed, scale)   # dims 1:ndims_transformed

Real-input centered DFT, half spectrum: `fftshift` all transformed dims, rfft (dim
`first_dim` halved to n÷2+1), then `fftshift` every transformed dim except the packed one;
times `scale`.
"""
function centered_rfft!(dst::Array{Complex{T}}, src::Array{T}, first_dim::Integer, last_dim::Integer,
                        scale::Real) where {T<:Union{Float32,Float64}}
    check_range("centered_rfft!", ndims(src), first_dim, last_dim)
    dims = size(src)
    hdims = ntuple(d -> d == first_dim ? dims[d] ÷ 2 + 1 : dims[d], ndims(src))
    size(dst) == hdims || throw(DimensionMismatch("centered_rfft!: dst $(size(dst)), expected $hdims"))
    isempty(src) && return dst
    inner, n, outer = split_dims(dims, first_dim, last_dim)
    r = length(n)
    h1 = n[1] ÷ 2 + 1
    maps = [d == 1 ? packed_forward_map(T, n[1]) : shift_map(T, n[d], -1) for d in 1:r]
    maps[r] = scaled(maps[r], scale)
    if two_stage(inner, n)
        slices = n[r] * outer
        src_slices = (inner, pad3(n[1:r-1])..., slices)
        dst_slices = (inner, h1, pad3(n[2:r-1])[1:2]..., slices)
        unit_pass_r2c!(reshape(dst, dst_slices), reshape(src, src_slices), r - 1, pad_maps(maps[1:r-1]))
        pencils = reshape(dst, (inner * h1 * prod(n[2:r-1]), n[r], outer))
        pencil_pass!(pencils, pencils, identity_map(T, n[r]), maps[r], FFTW_FORWARD)
    else
        unit_pass_r2c!(reshape(dst, (inner, h1, pad3(n[2:end])[1:2]..., outer)),
                       reshape(src, (inner, pad3(n)..., outer)), r, pad_maps(maps))
    end
    return dst
end

centered_rfft!(dst::Array, src::Array, ndims_transformed::Integer, scale::Real) =
    centered_rfft!(dst, src, 1, ndims_transformed, scale)

"""
    centered_irfft!(dst, src, first_dim, last_dim, scale)
    centered_irfft!(dst, src, ndims_transformed, scale)   # dims 1:ndims_transformed

Inverse of `centered_rfft!`: `ifftshift` the non-packed transformed dims, irfft to the real
size of `dst` (dim `first_dim` of `src` must be `size(dst, first_dim) ÷ 2 + 1`), then
`ifftshift` every transformed dim; times `scale`. `src` is not modified.
"""
function centered_irfft!(dst::Array{T}, src::Array{Complex{T}}, first_dim::Integer, last_dim::Integer,
                         scale::Real) where {T<:Union{Float32,Float64}}
    check_range("centered_irfft!", ndims(dst), first_dim, last_dim)
    dims = size(dst)
    hdims = ntuple(d -> d == first_dim ? dims[d] ÷ 2 + 1 : dims[d], ndims(dst))
    size(src) == hdims || throw(DimensionMismatch("centered_irfft!: src $(size(src)), expected $hdims for output $dims"))
    isempty(dst) && return dst
    inner, n, outer = split_dims(dims, first_dim, last_dim)
    r = length(n)
    h1 = n[1] ÷ 2 + 1
    maps = [d == 1 ? packed_inverse_map(T, n[1]) : inverse_real_map(T, n[d]) for d in 1:r]
    maps[r] = scaled(maps[r], scale)
    if two_stage(inner, n)
        # Pencils along the slowest dim first, into scratch memory (the caller's half spectrum
        # is never written), then slices: gather and complex-to-real.
        with_scratch(Complex{T}, size(src)) do work
            m = inner * h1 * prod(n[2:r-1])
            pencil_pass!(reshape(work, (m, n[r], outer)), reshape(src, (m, n[r], outer)), maps[r],
                         identity_map(T, n[r]), FFTW_BACKWARD)
            slices = n[r] * outer
            unit_pass_c2r!(reshape(dst, (inner, pad3(n[1:r-1])..., slices)),
                           reshape(work, (inner, h1, pad3(n[2:r-1])[1:2]..., slices)), r - 1, pad_maps(maps[1:r-1]))
        end
    else
        unit_pass_c2r!(reshape(dst, (inner, pad3(n)..., outer)),
                       reshape(src, (inner, h1, pad3(n[2:end])[1:2]..., outer)), r, pad_maps(maps))
    end
    return dst
end

centered_irfft!(dst::Array, src::Array, ndims_transformed::Integer, scale::Real) =
    centered_irfft!(dst, src, 1, ndims_transformed, scale)

register_kernel("centered_fft", centered_fft!)
register_kernel("centered_rfft", centered_rfft!)
register_kernel("centered_irfft", centered_irfft!)
