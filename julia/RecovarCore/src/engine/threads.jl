# Work distribution over threads: blocks handed out on demand (`ImageBlocks`), contiguous
# static blocks (`chunk_range`), and threaded element-wise helpers on long vectors.

"Contiguous block `chunk` of `1:n` split into `nchunks` nearly equal blocks."
@inline function chunk_range(chunk::Int, nchunks::Int, n::Int)
    q, r = divrem(n, nchunks)
    first = (chunk - 1) * q + min(chunk - 1, r) + 1
    last = first + q - 1 + (chunk <= r ? 1 : 0)
    return first:last
end

"""
    ImageBlocks(n, nthreads)

Images 1:n handed out in blocks (about 8 per thread) to whichever thread asks next
(`next_block!`), so a thread slowed down by other work on the machine does not hold up the
others. Used for projection, where each image is computed on its own (results do not
depend on the hand-out); backprojection keeps static blocks so that its sums are rounded
the same way in every run.
"""
struct ImageBlocks
    n::Int
    size::Int
    next::Threads.Atomic{Int}
end
ImageBlocks(n::Int, nthreads::Int) = ImageBlocks(n, max(1, cld(n, 8 * nthreads)), Threads.Atomic{Int}(1))

"The next block of images (empty when all are taken)."
function next_block!(blocks::ImageBlocks)
    first = Threads.atomic_add!(blocks.next, blocks.size)
    return first:min(first + blocks.size - 1, blocks.n)
end

# dest .+= src, threaded over blocks
function add_into!(dest::AbstractVector, src::AbstractVector)
    length(dest) == length(src) || throw(DimensionMismatch("add_into!: lengths differ"))
    m = length(dest)
    nchunks = max(1, min(Threads.nthreads(), m ÷ 65536))
    Threads.@threads for chunk in 1:nchunks
        range = chunk_range(chunk, nchunks, m)
        @inbounds @simd for k in range
            dest[k] += src[k]
        end
    end
    return dest
end

function fill_threaded!(dest::AbstractVector, value)
    m = length(dest)
    nchunks = max(1, min(Threads.nthreads(), m ÷ 65536))
    Threads.@threads for chunk in 1:nchunks
        range = chunk_range(chunk, nchunks, m)
        @inbounds @simd for k in range
            dest[k] = value
        end
    end
    return dest
end

"""
    touch_pages!(dest)

Write zero to one entry of every 4 KiB page of `dest`, threaded: a freshly allocated
output (a new NumPy array) is then faulted in by all threads at once, before the kernel
fills it, instead of page by page in the middle of the kernel's gathers (whose cached
volume the kernel's page zeroing would evict). Only for outputs the kernel overwrites
entirely.
"""
function touch_pages!(dest::DenseVector{T}) where {T}
    m = length(dest)
    step = max(1, 4096 ÷ sizeof(T))
    nchunks = max(1, min(Threads.nthreads(), m ÷ (64 * step)))
    Threads.@threads for chunk in 1:nchunks
        range = chunk_range(chunk, nchunks, m)
        @inbounds for k in first(range):step:last(range)
            dest[k] = zero(T)
        end
    end
    return dest
end
