# Exported CTF API (src/api/ctf.jl): ctf(params, grid) for every mode equals the ctf_grid!
# kernel on the parameter matrix the Python path builds; named fields; layouts.
const RC = RecovarCore

@testset "ctf(params, grid) equals ctf_grid! for $mode, $layout, n=$n" for
        mode in (SPA(), SPAAntialiased(), SPAAntialiased(true), TiltSeries(3.0, 2.5), CryoET()),
        layout in (FullGrid(), HalfGrid()), n in (16, 15)
    params = [CTFParams(defocus_u=9000 + 700i, defocus_v=8500, defocus_angle=17i, voltage=300, cs=2.7,
                        amplitude_contrast=0.07, phase_shift=5, bfactor=25, contrast=0.9, dose=4i,
                        tilt_number=i, tilt_angle=-6i) for i in 1:4]
    grid = ImageGrid(n, 1.7, layout)
    c = ctf(params, grid; mode=mode)
    @test size(c) == (RC.stored_width(layout, n), n, 4)
    @test eltype(c) == Float32
    matrix = RC.parameter_matrix(params, mode)
    expected = zeros(Float32, prod(size(c)[1:2]), 4)
    antialias, dose_mode, dpt, apt = RC.grid_codes(mode)
    RC.ctf_grid!(expected, matrix, n, 1.7, RC.is_half(layout) ? 1 : 0, antialias, dose_mode, dpt, apt)
    @test vec(c) == vec(expected)
    @test ctf(params[2], grid; mode=mode) == c[:, :, 2]
end

@testset "CTFParams: named fields, defaults and the parameter rows" begin
    p = CTFParams(defocus_u=15000.0)
    @test p.defocus_v == 15000.0 && p.voltage == 300.0 && p.cs == 2.7 && p.amplitude_contrast == 0.1
    m = RC.parameter_matrix([CTFParams(defocus_u=1.0, defocus_v=2.0, defocus_angle=3.0, voltage=4.0, cs=5.0,
                                       amplitude_contrast=0.6, phase_shift=7.0, bfactor=8.0, contrast=9.0,
                                       dose=10.0, tilt_number=12.0, tilt_angle=11.0)], SPA())
    @test vec(m) == [1.0, 2.0, 3.0, 4.0, 5.0, 0.6, 7.0, 8.0, 9.0, 10.0, 11.0]
    @test RC.parameter_matrix([CTFParams(defocus_u=1.0, tilt_number=12.0)], TiltSeries(1.0, 1.0))[10] == 12.0
    # an in-focus CTF with full amplitude contrast is −contrast·W everywhere (no phase)
    flat = ctf(CTFParams(defocus_u=0.0, cs=0.0, amplitude_contrast=1.0), ImageGrid(8, 2.0); eltype=Float64)
    @test all(x -> isapprox(x, -1.0; atol=1e-12), flat)
    @test_throws ArgumentError ImageGrid(0, 1.0)
    @test_throws ArgumentError ImageGrid(8, -1.0)
end
