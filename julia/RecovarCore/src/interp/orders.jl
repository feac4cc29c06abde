# Interpolation orders as types and their per-order policy: location type, projection
# element type, slice center.

"""
    Nearest(), Linear(), Cubic()

Interpolation orders 0, 1 and 3 as types (dispatch picks the per-pixel primitive). Only
orders 0 and 1 clip with `max_r`.
"""
struct Nearest end
struct Linear end
struct Cubic end

"""
    locate(order, v::VolumeView, g0, g1, g2)

Location of grid point `g` for `order` (`VoxelLocation`, `CellLocation`, `CubicLocation`),
to be used with `evaluate(v, loc)` and `scatter_at!(acc, loc, value)`.
"""
@inline locate(::Nearest, v, g0, g1, g2) = locate_nearest(v, g0, g1, g2)
@inline locate(::Linear, v, g0, g1, g2) = locate_linear(v, g0, g1, g2)
@inline locate(::Cubic, v, g0::T, g1::T, g2::T) where {T} = CubicLocation{T}(g0, g1, g2)

"Element type of `locate(order, v, g...)` for coordinates of type `Tc`."
location_type(::Nearest, ::Type{Tc}) where {Tc} = VoxelLocation
location_type(::Linear, ::Type{Tc}) where {Tc} = CellLocation{Tc}
location_type(::Cubic, ::Type{Tc}) where {Tc} = CubicLocation{Tc}

"`order`-interpolation of `v` at grid point `g` (`sample_nearest`, `sample_linear`, `sample_cubic`)."
@inline sample(order, v, g0, g1, g2) = evaluate(v, locate(order, v, g0, g1, g2))
"Adjoint of `sample` (`scatter_nearest!`, `scatter_linear!`, `scatter_cubic!`)."
@inline scatter!(order, acc, g0, g1, g2, value) = scatter_at!(acc, locate(order, acc, g0, g1, g2), value)

"Interpolation order object for recovar's integer order (0, 1, 3)."
function interpolation_order(order::Integer)
    order == 0 && return Nearest()
    order == 1 && return Linear()
    order == 3 && return Cubic()
    throw(ArgumentError("interpolation order must be 0, 1 or 3, got $order"))
end

"Element type of a projection of a volume of element type `T` with coordinates `Tc`."
projection_eltype(::Nearest, ::Type{T}, ::Type{Tc}) where {T,Tc} = T
projection_eltype(::Union{Linear,Cubic}, ::Type{T}, ::Type{Tc}) where {T,Tc} = promote_type(T, Tc)

"Center of the slice geometry for an order (cubic follows recovar's geometry helpers)."
slice_center(::Union{Nearest,Linear}, l::VolumeLayout) = volume_center(l)
slice_center(::Cubic, l::VolumeLayout) = cubic_center(l)
