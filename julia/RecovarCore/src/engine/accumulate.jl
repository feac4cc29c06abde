# The one accumulator of sums over images (backprojections, the forward model's adjoint,
# AᵀAv): per-thread volumes over static blocks of images (`static_blocks`, so the rounding
# is the same in every run), blocked float32 summation, then one sum into the output in
# thread order.

"""
    accumulate_images!(work!, s::Scatter, n, nacc) -> s

`s += Σ_i contribution of image i` (i in 1:n), where `work!(acc::Scatter, images::UnitRange)`
scatters the given images into `acc` (volumes of `s`'s layout and element types, no slab).
The images are split into `nacc` contiguous blocks (`static_blocks`), one per thread: block 1
is scattered straight into `s`, block t > 1 into a zeroed copy (`zeroed_like`), and the
copies are added into `s` in block order afterwards. Within a block, 32-bit sums are
blocked (`scatter_blocked!`). Extra memory: `nacc − 1` copies, plus one block volume per
thread with more than `FLUSH_BLOCK` images of a 32-bit type — independent of `n`.
"""
function accumulate_images!(work!, s::Scatter, n::Int, nacc::Int)
    n == 0 && return s
    copies = [zeroed_like(s) for _ in 2:nacc]
    static_blocks(n, nacc) do t, images
        scatter_blocked!(work!, t == 1 ? s : copies[t - 1], images)
    end
    for copy in copies
        foreach(add_into!, volumes(s), volumes(copy))
    end
    return s
end

"""
    scatter_blocked!(work!, s::Scatter, images)

`work!(s, images)`; for 32-bit sums (`needs_blocking`) over more than `FLUSH_BLOCK` images,
blocked summation instead: each block of `FLUSH_BLOCK` images is scattered into a zeroed
block volume, which is then added into `s` (in image order, so the result is reproducible).
"""
function scatter_blocked!(work!, s::Scatter, images::UnitRange{Int})
    (needs_blocking(s) && length(images) > FLUSH_BLOCK) || return work!(s, images)
    # a float32 running sum over 10⁵ images drifts by ~4e-4; summing blocks of FLUSH_BLOCK
    # images first keeps it ~1e-6
    block = zeroed_like(s)
    for start in first(images):FLUSH_BLOCK:last(images)
        start > first(images) && clear_owned!(block)
        GC.@preserve block work!(block, start:min(start + FLUSH_BLOCK - 1, last(images)))
        add_scatter!(s, block)
    end
    return nothing
end
