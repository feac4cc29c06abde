# The one thread partitioner: every loop over images (or over long vectors) splits its work
# here, in one of two ways.
#
# * `static_blocks`: contiguous blocks (`chunk_range`), block b always gets the same items.
#   For sums (backprojection accumulators): which images a thread adds decides the rounding,
#   so results are the same in every run.
# * `on_demand_blocks` / `foreach_image`: blocks handed out to whichever thread asks next
#   (`ImageBlocks`), so a thread slowed down by other work on the machine does not hold up
#   the others. For independent items (projections, CTF images), whose results do not
#   depend on the hand-out.

"Contiguous block `chunk` of `1:n` split into `nchunks` nearly equal blocks."
@inline function chunk_range(chunk::Int, nchunks::Int, n::Int)
    q, r = divrem(n, nchunks)
    first = (chunk - 1) * q + min(chunk - 1, r) + 1
    last = first + q - 1 + (chunk <= r ? 1 : 0)
    return first:last
end

"""
    static_blocks(work!, n, nblocks)

`work!(b, items)` for b in 1:`nblocks` (≥ 1), items = `chunk_range(b, nblocks, n)`, one
task per block (`run_blocks`; none when `nblocks == 1`).
"""
function static_blocks(work!, n::Int, nblocks::Int)
    nblocks >= 1 || throw(ArgumentError("static_blocks: need at least one block, got $nblocks"))
    run_blocks(b -> work!(b, chunk_range(b, nblocks, n)), nblocks)
    return nothing
end

"""
    run_blocks(f, nblocks)

`f(b)` for b in 1:`nblocks`: blocks 2:nblocks as spawned tasks, block 1 on the calling
thread, then wait for all. A spawned task runs on whichever thread is free first — the
caller too, once its own block is done — so a thread the OS does not schedule (other load
on the machine) cannot hold up the call before it has started a block. Which block does
what does not depend on the thread that runs it.
"""
function run_blocks(f, nblocks::Int)
    if nblocks == 1
        f(1)
        return nothing
    end
    tasks = [Threads.@spawn f(b) for b in 2:nblocks]
    try
        f(1)
    finally
        foreach(wait, tasks)
    end
    return nothing
end

"""
    ImageBlocks(n, nthreads)

Items 1:n handed out in blocks (about 32 per thread: a thread the OS stops in the middle of
a block holds up the call by at most that block) to whichever thread asks next
(`next_block!`, or iterate it: `for images in blocks`).
"""
struct ImageBlocks
    n::Int
    size::Int
    next::Threads.Atomic{Int}
end
ImageBlocks(n::Int, nthreads::Int) = ImageBlocks(n, max(1, cld(n, 32 * nthreads)), Threads.Atomic{Int}(1))

"The next block of images (empty when all are taken)."
function next_block!(blocks::ImageBlocks)
    first = Threads.atomic_add!(blocks.next, blocks.size)
    return first:min(first + blocks.size - 1, blocks.n)
end

function Base.iterate(blocks::ImageBlocks, state=nothing)
    images = next_block!(blocks)
    return isempty(images) ? nothing : (images, nothing)
end
Base.IteratorSize(::Type{ImageBlocks}) = Base.SizeUnknown()
Base.eltype(::Type{ImageBlocks}) = UnitRange{Int}

"""
    on_demand_blocks(work!, n)

`work!(blocks::ImageBlocks)` in `min(nthreads(), n)` tasks (`run_blocks`); each call takes
blocks of 1:n (`for images in blocks`) until none is left, so every item is handed out
exactly once. Per-task scratch goes before that loop.
"""
function on_demand_blocks(work!, n::Int)
    nthreads = min(Threads.nthreads(), n)
    nthreads >= 1 || return nothing
    blocks = ImageBlocks(n, nthreads)
    run_blocks(_ -> work!(blocks), nthreads)
    return nothing
end

"`f(i)` for every i in 1:n, threads taking blocks on demand (`on_demand_blocks`)."
function foreach_image(f, n::Int)
    on_demand_blocks(n) do blocks
        for images in blocks, i in images
            f(i)
        end
    end
    return nothing
end

"Number of blocks for an element-wise loop over `m` entries (one per 64 Ki entries, ≤ nthreads)."
element_blocks(m::Int) = max(1, min(Threads.nthreads(), m ÷ 65536))

# dest .+= src, threaded over blocks
function add_into!(dest::AbstractVector, src::AbstractVector)
    length(dest) == length(src) || throw(DimensionMismatch("add_into!: lengths differ"))
    static_blocks(length(dest), element_blocks(length(dest))) do _, range
        @inbounds @simd for k in range
            dest[k] += src[k]
        end
    end
    return dest
end

function fill_threaded!(dest::AbstractVector, value)
    static_blocks(length(dest), element_blocks(length(dest))) do _, range
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
volume the kernel's page zeroing would evict). The 2 MiB-aligned part of `dest` is first
offered huge pages (`advise_huge_pages!`): one fault per 2 MiB instead of 512. Only for
outputs the kernel overwrites entirely.
"""
function touch_pages!(dest::DenseVector{T}) where {T}
    advise_huge_pages!(dest)
    m = length(dest)
    step = max(1, 4096 ÷ sizeof(T))
    static_blocks(m, max(1, min(Threads.nthreads(), m ÷ (64 * step)))) do _, range
        @inbounds for k in first(range):step:last(range)
            dest[k] = zero(T)
        end
    end
    return dest
end

const HUGE_PAGE = 1 << 21
const MADV_HUGEPAGE = 14

"""
    advise_huge_pages!(dest)

`madvise(MADV_HUGEPAGE)` on the whole 2 MiB huge pages inside `dest`'s memory (Linux with
transparent huge pages in `madvise` or `always` mode; elsewhere, or if the kernel refuses,
nothing happens). Contents are unchanged.
"""
function advise_huge_pages!(dest::DenseVector)
    Sys.islinux() || return dest
    start = UInt(pointer(dest))   # dest is an argument: alive for the call
    lo = cld(start, HUGE_PAGE) * HUGE_PAGE
    hi = fld(start + UInt(sizeof(dest)), HUGE_PAGE) * HUGE_PAGE
    hi > lo && GC.@preserve dest ccall(:madvise, Cint, (Ptr{Cvoid}, Csize_t, Cint), Ptr{Cvoid}(lo), hi - lo,
                                       MADV_HUGEPAGE)
    return dest
end
