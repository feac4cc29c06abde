# Public layouts and image grids of the exported API (docs/julia.md, docs/conventions.md).
# Arrays are column-major in (x, y, z) order: a Julia volume `V[x, y, z]` has the memory of
# the NumPy array `V[z, y, x]` that recovar_jl passes, so both reach the same kernels.

"""
    GridLayout

How a centered spectrum is stored along x (Julia dimension 1): [`FullGrid`](@ref) or
[`HalfGrid`](@ref).
"""
abstract type GridLayout end

"""
    FullGrid()

Every centered frequency is stored: an axis of `n` samples holds frequencies
`-n÷2 … (n-1)÷2` at indices `1 … n` (frequency 0 at index `n÷2 + 1`).
"""
struct FullGrid <: GridLayout end

"""
    HalfGrid()

rfft packing along x: the `n÷2 + 1` stored columns hold the frequencies `0, 1, …` (for even
`n` the last one is the Nyquist frequency `-n/2`); the other frequencies are the complex
conjugates of stored ones (Hermitian symmetry of the spectrum of a real signal). Other axes
are stored in full, centered.
"""
struct HalfGrid <: GridLayout end

"Number of stored x columns of an axis of `n` samples."
stored_width(::FullGrid, n::Integer) = Int(n)
stored_width(::HalfGrid, n::Integer) = Int(n) ÷ 2 + 1

is_half(::FullGrid) = false
is_half(::HalfGrid) = true

"""
    ImageGrid(side, pixel_size, layout=FullGrid())

A square image grid of `side × side` pixels of `pixel_size` Å, stored in `layout`: arrays
on it are `(stored_width(layout, side), side)` per image. Pixel `(j, r)` has the spatial
frequency `(kx, ky) / (side·pixel_size)` 1/Å with `kx`, `ky` its centered integer
frequencies.
"""
struct ImageGrid{L<:GridLayout}
    side::Int
    pixel_size::Float64
    layout::L
    function ImageGrid(side::Integer, pixel_size::Real, layout::L=FullGrid()) where {L<:GridLayout}
        side > 0 || throw(ArgumentError("ImageGrid: side must be positive, got $side"))
        (pixel_size > 0 && isfinite(pixel_size)) ||
            throw(ArgumentError("ImageGrid: pixel_size must be a positive number of Å, got $pixel_size"))
        return new{L}(Int(side), Float64(pixel_size), layout)
    end
end

"Size `(width, side)` of one image stored on `grid`."
image_dims(grid::ImageGrid) = (stored_width(grid.layout, grid.side), grid.side)
