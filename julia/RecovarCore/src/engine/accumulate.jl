# The accumulator of sums over images (backprojections, AᵀAv): per-thread volumes over
# static blocks of images (`static_blocks`, so the rounding is the same in every run),
# blocked float32 summation, then one sum into the output.

"""
    accumulate_images!(work!, out, layout, n, nacc)

`out += Σ_i contribution of image i`, where `work!(acc::VolumeView, images::UnitRange)`
scatters the given images into `acc` (a volume of `layout`). The images are split into
`nacc` contiguous blocks (`static_blocks`), one per thread, each scattering into its own
accumulator (block 1 straight into `out` when no blocking is needed). For 32-bit element
types with more than `FLUSH_BLOCK` images per thread, each thread scatters blocks of
`FLUSH_BLOCK` images into its accumulator and adds it into `out` (under a lock) after every
block: blocked summation, so the result does not drift with the number of images. Extra
memory: at most `nacc` volumes — independent of `n`.
"""
function accumulate_images!(work!, out::AbstractVector{T}, layout::VolumeLayout, n::Int, nacc::Int) where {T}
    n == 0 && return out
    if !needs_blocking(T) || cld(n, nacc) <= FLUSH_BLOCK
        buffers = [zeros(T, length(out)) for _ in 2:nacc]
        static_blocks(n, nacc) do b, images
            work!(VolumeView(b == 1 ? out : buffers[b-1], layout), images)
        end
        for buffer in buffers
            add_into!(out, buffer)
        end
        return out
    end
    out_lock = ReentrantLock()
    static_blocks(n, nacc) do _, images
        part = zeros(T, length(out))
        for start in first(images):FLUSH_BLOCK:last(images)
            start > first(images) && fill!(part, zero(T))
            work!(VolumeView(part, layout), start:min(start + FLUSH_BLOCK - 1, last(images)))
            lock(out_lock)
            try
                add_block!(out, part)
            finally
                unlock(out_lock)
            end
        end
    end
    return out
end
