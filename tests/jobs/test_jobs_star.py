"""RELION STAR I/O and pose conventions of recovar_jl.jobs.star (no Julia needed)."""
import numpy as np
import pandas as pd
import pytest
from scipy.spatial.transform import Rotation

from recovar_jl.jobs.errors import JobError
from recovar_jl.jobs.simulate import random_rotations
from recovar_jl.jobs.star import (
    origins_to_translations, particles_tables, read_particles, relion_euler_to_rotation,
    rotation_to_relion_euler, stack_image_names, translations_to_origins, write_star,
)


def conventions_recipe(angles):
    """docs/conventions.md §13: rot + 90°, psi − 90°, extrinsic zxz, then the sign pattern."""
    a = np.array(angles, dtype=np.float64, copy=True)
    a[:, 0] += 90.0
    a[:, 2] -= 90.0
    m = Rotation.from_euler("zxz", a, degrees=True).as_matrix()
    return m * np.array([[1, -1, 1], [-1, 1, -1], [1, -1, 1]])


def test_relion_euler_to_rotation_matches_conventions_recipe(rng):
    angles = rng.uniform([-180, 0, -180], [180, 180, 180], size=(200, 3))
    np.testing.assert_allclose(relion_euler_to_rotation(angles), conventions_recipe(angles), atol=1e-13)


def test_zero_angles_give_identity_and_matrices_are_proper_rotations(rng):
    np.testing.assert_allclose(relion_euler_to_rotation([0.0, 0.0, 0.0])[0], np.eye(3), atol=1e-15)
    R = relion_euler_to_rotation(rng.uniform(-180, 180, size=(50, 3)))
    np.testing.assert_allclose(R @ R.transpose(0, 2, 1), np.broadcast_to(np.eye(3), R.shape), atol=1e-13)
    np.testing.assert_allclose(np.linalg.det(R), 1.0, atol=1e-13)


def test_tilt_rotates_projection_direction_and_rot_spins_it_about_z():
    # Row 2 is the projection direction: tilt 90° (rot 0) looks along +x, rot 90° then along +y.
    np.testing.assert_allclose(relion_euler_to_rotation([0.0, 90.0, 0.0])[0, 2], [1, 0, 0], atol=1e-15)
    np.testing.assert_allclose(relion_euler_to_rotation([90.0, 90.0, 0.0])[0, 2], [0, 1, 0], atol=1e-15)


def test_rotation_to_euler_round_trip_is_exact_for_uniform_rotations(rng):
    R = random_rotations(500, rng)
    back = relion_euler_to_rotation(rotation_to_relion_euler(R))
    np.testing.assert_allclose(back, R, atol=2e-15 * 8)


def test_euler_round_trip_recovers_angles_in_canonical_range(rng):
    angles = rng.uniform([-179.9, 0.1, -179.9], [180, 179.9, 180], size=(300, 3))
    out = rotation_to_relion_euler(relion_euler_to_rotation(angles))
    np.testing.assert_allclose(out, angles, atol=1e-9)
    assert np.all((out[:, 1] >= 0) & (out[:, 1] <= 180))
    assert np.all((out[:, [0, 2]] > -180) & (out[:, [0, 2]] <= 180))


@pytest.mark.parametrize("tilt", [0.0, 180.0, 1e-9, 180.0 - 1e-9, 1e-4, 179.9999])
def test_euler_inverse_stays_exact_near_gimbal_lock(rng, tilt):
    angles = np.column_stack([rng.uniform(-180, 180, 20), np.full(20, tilt), rng.uniform(-180, 180, 20)])
    R = relion_euler_to_rotation(angles)
    np.testing.assert_allclose(relion_euler_to_rotation(rotation_to_relion_euler(R)), R, atol=1e-14)


def test_origins_are_recentring_shifts_in_pixels():
    origins = np.array([[3.0, -1.5], [0.0, 2.25]])
    t = origins_to_translations(origins, np.array([1.5, 1.5]))
    np.testing.assert_array_equal(t, [[2.0, -1.0], [0.0, 1.5]])  # same sign: translate_images moves by +t
    np.testing.assert_array_equal(translations_to_origins(t, np.array([1.5, 1.5])), origins)


def _tables(n=5, seed=0, box=32, apix=2.5):
    rng = np.random.default_rng(seed)
    R = random_rotations(n, rng)
    t = rng.uniform(-3, 3, (n, 2))
    ctf = np.zeros((n, 9))
    ctf[:, 0] = rng.uniform(10000, 20000, n)
    ctf[:, 1] = ctf[:, 0] - 300
    ctf[:, 2] = rng.uniform(0, 180, n)
    ctf[:, 3:6] = [300.0, 2.7, 0.1]
    ctf[:, 6] = 0.0
    ctf[:, 7] = 40.0
    ctf[:, 8] = 1.0
    return R, t, ctf, particles_tables(stack_image_names("particles.mrcs", n), R, t, ctf, apix, box)


def test_star_round_trip_preserves_poses_ctf_and_image_locations(tmp_path):
    R, t, ctf, tables = _tables()
    path = tmp_path / "p.star"
    write_star(path, tables)
    ps = read_particles(path)
    assert len(ps) == 5 and ps.box == 32 and ps.voxel_size == 2.5
    np.testing.assert_allclose(ps.rotations, R, atol=1e-6)
    np.testing.assert_allclose(ps.translations, t, atol=1e-6)
    np.testing.assert_allclose(ps.ctf_params, ctf, atol=1e-6)
    assert ps.stack_paths == [tmp_path / "particles.mrcs"]
    np.testing.assert_array_equal(ps.image_indices, np.arange(5))
    assert ps.random_subset is None


def test_written_star_is_relion31_layout_with_negated_bfactor(tmp_path):
    _, _, ctf, tables = _tables()
    path = tmp_path / "p.star"
    write_star(path, tables)
    text = path.read_text()
    assert text.index("data_optics") < text.index("data_particles")
    for column in ("_rlnOpticsGroup", "_rlnVoltage", "_rlnSphericalAberration", "_rlnAmplitudeContrast",
                   "_rlnImagePixelSize", "_rlnImageSize", "_rlnImageName", "_rlnAngleRot", "_rlnAngleTilt",
                   "_rlnAnglePsi", "_rlnOriginXAngst", "_rlnOriginYAngst", "_rlnDefocusU", "_rlnDefocusV",
                   "_rlnDefocusAngle", "_rlnPhaseShift", "_rlnCtfBFactor"):
        assert column in text, column
    assert "000001@particles.mrcs" in text
    assert np.all(tables["particles"]["rlnCtfBFactor"] == -40.0)  # RELION: negative = decay


def test_relion30_single_table_with_pixel_origins_and_detector_pixel_size(tmp_path):
    df = pd.DataFrame({
        "rlnImageName": ["2@a.mrcs", "1@b.mrcs", "5@a.mrcs"],
        "rlnAngleRot": [10.0, 20.0, 30.0], "rlnAngleTilt": [40.0, 50.0, 60.0], "rlnAnglePsi": [0.0, 1.0, 2.0],
        "rlnOriginX": [1.0, -2.0, 0.5], "rlnOriginY": [0.0, 3.0, -1.0],
        "rlnDefocusU": [1e4] * 3, "rlnDefocusV": [9e3] * 3, "rlnDefocusAngle": [5.0] * 3,
        "rlnVoltage": [300.0] * 3, "rlnSphericalAberration": [2.7] * 3, "rlnAmplitudeContrast": [0.07] * 3,
        "rlnDetectorPixelSize": [5.0] * 3, "rlnMagnification": [25000.0] * 3, "rlnRandomSubset": [1, 2, 1],
    })
    path = tmp_path / "old.star"
    write_star(path, df)
    ps = read_particles(path)
    assert ps.voxel_size == pytest.approx(2.0)
    np.testing.assert_array_equal(ps.translations, [[1.0, 0.0], [-2.0, 3.0], [0.5, -1.0]])
    np.testing.assert_array_equal(ps.image_indices, [1, 0, 4])
    np.testing.assert_array_equal(ps.stack_ids, [0, 1, 0])
    np.testing.assert_array_equal(ps.random_subset, [1, 2, 1])
    np.testing.assert_array_equal(ps.ctf_params[:, 7], 0.0)
    np.testing.assert_array_equal(ps.ctf_params[:, 8], 1.0)


def test_stack_names_resolve_beside_the_star_file_first(tmp_path, monkeypatch):
    (tmp_path / "sub").mkdir()
    _, _, _, tables = _tables(n=2)
    write_star(tmp_path / "sub" / "p.star", tables)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "particles.mrcs").write_bytes(b"")          # only in the cwd
    assert read_particles("sub/p.star").stack_paths[0].resolve() == (tmp_path / "particles.mrcs").resolve()
    (tmp_path / "sub" / "particles.mrcs").write_bytes(b"")  # beside the STAR file wins
    assert read_particles("sub/p.star").stack_paths[0].resolve() == (tmp_path / "sub" / "particles.mrcs").resolve()


# ---- bad input: one-line JobError that names the problem and the fix -----------------------
def _error(path):
    with pytest.raises(JobError) as info:
        read_particles(path)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_missing_star_file_is_reported(tmp_path):
    message = _error(tmp_path / "nothere.star")
    assert "no such file" in message and ".star" in message


@pytest.mark.parametrize("content", [b"hello\nthis is not a star file\n", b"", bytes(range(256)) * 4])
def test_non_star_file_is_reported(tmp_path, content):
    path = tmp_path / "x.star"
    path.write_bytes(content)
    message = _error(path)
    assert "STAR" in message


def test_star_without_a_needed_column_names_the_column(tmp_path):
    _, _, _, tables = _tables()
    tables["particles"] = tables["particles"].drop(columns=["rlnDefocusV"])
    path = tmp_path / "p.star"
    write_star(path, tables)
    message = _error(path)
    assert "_rlnDefocusV" in message and "CTF" in message


def test_star_without_pixel_size_asks_for_it(tmp_path):
    _, _, _, tables = _tables()
    tables["optics"] = tables["optics"].drop(columns=["rlnImagePixelSize"])
    path = tmp_path / "p.star"
    write_star(path, tables)
    assert "_rlnImagePixelSize" in _error(path)


def test_unknown_optics_group_and_bad_numbers_are_reported(tmp_path):
    _, _, _, tables = _tables()
    tables["particles"].loc[2, "rlnOpticsGroup"] = 7
    path = tmp_path / "p.star"
    write_star(path, tables)
    assert "optics group 7" in _error(path)
    _, _, _, tables = _tables()
    tables["particles"]["rlnAngleTilt"] = tables["particles"]["rlnAngleTilt"].astype(object)
    tables["particles"].loc[3, "rlnAngleTilt"] = "abc"
    write_star(path, tables)
    message = _error(path)
    assert "_rlnAngleTilt" in message and "particle 4" in message


def test_bad_image_name_is_reported(tmp_path):
    _, _, _, tables = _tables()
    tables["particles"].loc[1, "rlnImageName"] = "x@particles.mrcs"
    path = tmp_path / "p.star"
    write_star(path, tables)
    assert "particle 2" in _error(path)


def test_impossible_ctf_values_are_reported(tmp_path):
    _, _, _, tables = _tables()
    tables["optics"]["rlnAmplitudeContrast"] = 1.5
    path = tmp_path / "p.star"
    write_star(path, tables)
    assert "_rlnAmplitudeContrast" in _error(path)
