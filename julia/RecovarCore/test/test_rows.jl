# Row kernels of projection (src/engine/rows.jl, src/engine/project.jl): the run paths
# (kept pixels of a row located in one vectorised loop) against the general per-pixel path,
# bit for bit, on full and half volumes, odd and even boxes, clipped rows and empty rows.
using RecovarCore: FullVolume, HalfVolume, VolumeView, ImagePlane, SliceGeometry, slice_geometry, grid_point,
                   sample_nearest, Nearest, Linear, Prefetcher, row_buffer, row_frequency, column_frequency,
                   slice_row!, general_slice_row!, slice_volumes!, clip_limit, stored_length, npixels,
                   locate_voxels!, locate_nearest, row_run, run_frequency, OUTSIDE, CONJUGATED
using LinearAlgebra: norm

function rows_rotation(rng, T)
    q = randn(rng, 4)
    q ./= norm(q)
    a, b, c, d = q
    return T[a^2+b^2-c^2-d^2 2(b*c-a*d) 2(b*d+a*c)
             2(b*c+a*d) a^2-b^2+c^2-d^2 2(c*d-a*b)
             2(b*d-a*c) 2(c*d+a*b) a^2-b^2-c^2+d^2]
end

"Julia (3, 3, n) view of NumPy-style rotations; the first is the identity (grid-aligned rows, ties in rounding)."
function rows_rotations(rng, n, T)
    out = zeros(T, 3, 3, n)
    for i in 1:n
        out[:, :, i] = i == 1 ? Matrix{T}(I3) : permutedims(rows_rotation(rng, T))
    end
    return out
end
const I3 = [1 0 0; 0 1 0; 0 0 1]

layouts(n) = (FullVolume(n, n, n), HalfVolume(n, n, n))
rows_volume(rng, T, layout) = VolumeView(randn(rng, T, stored_length(layout)), layout)

# (max_r2, what it exercises): no clipping (corner pixels outside the grid), the default
# radius, a radius leaving most rows empty, only the centre pixel
clip_cases(h) = (Inf, Float64((h ÷ 2 - 1)^2), 2.0, 0.0)

"Every row of every image through `slice_row!` and `general_slice_row!`: bit-identical outputs."
function rows_match(vol, rotations, plane, order, u, max_r2)
    To = eltype(vol.data)
    n = size(rotations, 3)
    Tc = promote_type(Float32, eltype(rotations))
    row = row_buffer(order, Tc, plane.width)
    pf = Prefetcher{:prefetch,eltype(vol.data)}(UInt(pointer(vol.data)))   # prefetched, however small
    limit = clip_limit(max_r2)
    a = fill(To(7), plane.width + 3)
    b = fill(To(7), plane.width + 3)
    ok = true
    for i in 1:n, r in 0:plane.h-1
        geo = slice_geometry(rotations, i, u, (vol.layout.n0 ÷ 2, vol.layout.n1 ÷ 2, vol.layout.n2 ÷ 2))
        ky = row_frequency(plane, r)
        slice_row!(a, 2, vol, geo, plane, order, ky, limit, row, pf)
        general_slice_row!(b, 2, vol, geo, plane, order, ky, limit, row, pf)
        ok &= isequal(a, b)
    end
    return ok
end

@testset "nearest run path equals the per-pixel path" begin
    rng = MersenneTwister(11)
    for n in (7, 8), layout in layouts(n), Tv in (ComplexF32, Float64), Tr in (Float32, Float64)
        vol = rows_volume(rng, Tv, layout)
        rotations = rows_rotations(rng, 4, Tr)
        for half_image in (false, true), max_r2 in clip_cases(n)
            @test rows_match(vol, rotations, ImagePlane(n, n, half_image), Nearest(), 1, max_r2)
        end
        # upsampled volume: images of half the box
        h = n ÷ 2
        for half_image in (false, true)
            @test rows_match(vol, rotations, ImagePlane(h, h, half_image), Nearest(), 2, Inf)
        end
    end
end

@testset "nearest voxel runs: indices, conjugation and outside" begin
    rng = MersenneTwister(12)
    for n in (7, 8), layout in layouts(n)
        vol = rows_volume(rng, ComplexF32, layout)
        rotations = rows_rotations(rng, 3, Float32)
        plane = ImagePlane(n, n, false)
        ks = zeros(Int32, n)
        kinds = Set{Int}()
        for i in 1:3, r in 0:n-1
            geo = slice_geometry(rotations, i, 1, (n ÷ 2, n ÷ 2, n ÷ 2))
            ky = row_frequency(plane, r)
            jlo, jhi, count = row_run(plane, ky, clip_limit(Inf))
            locate_voxels!(ks, geo, layout, ky, run_frequency(plane, jlo), count)
            for t in 1:count
                loc = locate_nearest(vol, grid_point(geo, run_frequency(plane, jlo) + t - 1, ky)...)
                push!(kinds, loc.kind)
                want = loc.kind == OUTSIDE ? 0 : loc.kind == CONJUGATED ? -loc.k : loc.k
                @test ks[t] == want
            end
        end
        @test OUTSIDE in kinds
        @test (CONJUGATED in kinds) == (layout isa HalfVolume)
        @test_throws DimensionMismatch locate_voxels!(zeros(Int32, 2), slice_geometry(rotations, 1, 1, (0, 0, 0)),
                                                      layout, 0, 0, 3)
    end
end

@testset "nearest slice_volumes!: batch of one, empty batch, definition" begin
    rng = MersenneTwister(13)
    for n in (6, 9), layout in layouts(n)
        vol, plane = rows_volume(rng, ComplexF32, layout), ImagePlane(n, n, false)
        max_r2 = Float64((n ÷ 2 - 1)^2)
        rotations = rows_rotations(rng, 2, Float32)[:, :, 2:2]   # one random rotation
        out = fill(ComplexF32(7), npixels(plane))
        slice_volumes!(out, [vol], rotations, plane, Nearest(), 1, max_r2)
        geo = slice_geometry(rotations, 1, 1, (n ÷ 2, n ÷ 2, n ÷ 2))
        want = [begin
                    kx, ky = column_frequency(plane, j), row_frequency(plane, r)
                    kx^2 + ky^2 <= max_r2 ? sample_nearest(vol, grid_point(geo, kx, ky)...) : zero(ComplexF32)
                end for j in 0:n-1, r in 0:n-1]
        @test isequal(out, vec(want))
        empty = ComplexF32[]
        @test slice_volumes!(empty, [vol], zeros(Float32, 3, 3, 0), plane, Nearest(), 1, max_r2) === empty
    end
end

@testset "linear run path equals the per-pixel path" begin
    rng = MersenneTwister(14)
    for n in (7, 8)
        layout = FullVolume(n, n, n)
        vol = rows_volume(rng, ComplexF32, layout)
        rotations = rows_rotations(rng, 4, Float32)
        for half_image in (false, true), max_r2 in clip_cases(n)
            @test rows_match(vol, rotations, ImagePlane(n, n, half_image), Linear(), 1, max_r2)
        end
    end
end
