"""Point groups (--sym) and symmetric reconstruction."""
import itertools

import numpy as np
import pytest
from scipy import ndimage

from recovar_jl.jobs.fsc import fsc
from recovar_jl.jobs.phantom import atoms_volume, phantom_atoms
from recovar_jl.jobs.reconstruct import reconstruct_arrays, split_halves
from recovar_jl.jobs.simulate import random_parameters, simulate_chunks
from recovar_jl.jobs.symmetry import axis_rotation, parse_symmetry, symmetry_operators

ORDERS = {"C1": 1, "C2": 2, "C5": 5, "C12": 12, "D1": 2, "D2": 4, "D7": 14, "T": 12, "O": 24,
          "I": 60, "I1": 60, "I2": 60, "I3": 60, "I4": 60}


def _index_of(ops, matrix):
    distance = np.abs(ops - matrix).max(axis=(1, 2))
    return int(np.argmin(distance)) if distance.min() < 1e-9 else None


@pytest.mark.parametrize("name,order", sorted(ORDERS.items()))
def test_each_group_is_closed_has_its_order_and_starts_with_the_identity(name, order):
    ops = symmetry_operators(name)
    assert ops.shape == (order, 3, 3)
    np.testing.assert_allclose(ops[0], np.eye(3), atol=1e-15)
    np.testing.assert_allclose(ops @ ops.transpose(0, 2, 1), np.broadcast_to(np.eye(3), ops.shape), atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(ops), 1.0, atol=1e-12)
    for a, b in itertools.product(ops, repeat=2):
        assert _index_of(ops, a @ b) is not None
    # No operator twice.
    assert len({_index_of(ops, s) for s in ops}) == order


# RELION's generator axes (fold, axis) for each setting, as relion_refine --sym defines them.
RELION_AXES = {
    "C7": [(7, (0, 0, 1))],
    "D3": [(3, (0, 0, 1)), (2, (1, 0, 0))],
    "T": [(3, (0, 0, 1)), (2, (0, 0.816496, 0.577350))],
    "O": [(3, (0.5773502, 0.5773502, 0.5773502)), (4, (0, 0, 1))],
    "I2": [(2, (0, 0, 1)), (5, (0.525731114, 0, 0.850650807)), (3, (0, 0.356822076, 0.934172364))],
    "I1": [(2, (1, 0, 0)), (5, (0.85065080702670, 0, -0.5257311142635)), (3, (0.9341723640, 0.3568220765, 0))],
    "I3": [(2, (-0.5257311143, 0, 0.8506508070)), (5, (0, 0, 1)),
           (3, (-0.4911234778630044, 0.3568220764705179, 0.7946544753759428))],
    "I4": [(2, (0.5257311143, 0, 0.8506508070)), (5, (0.8944271932547096, 0, 0.4472135909903704)),
           (3, (0.4911234778630044, 0.3568220764705179, 0.7946544753759428))],
}


@pytest.mark.parametrize("name", sorted(RELION_AXES))
def test_groups_have_relions_axes(name):
    ops = symmetry_operators(name)
    for fold, axis in RELION_AXES[name]:
        # RELION's decimals carry 6 to 10 digits.
        assert np.abs(ops - axis_rotation(axis, fold)).max(axis=(1, 2)).min() < 1e-6, (fold, axis)


def test_bare_i_is_relions_default_setting_i2_and_names_are_case_insensitive():
    assert parse_symmetry("i") == "I2"
    assert parse_symmetry(" d7 ") == "D7"
    np.testing.assert_array_equal(symmetry_operators("I"), symmetry_operators("I2"))
    # The settings are different orientations of the same group: I2's 5-fold is not one of I1's.
    assert _index_of(symmetry_operators("I1"), axis_rotation((0.525731114, 0, 0.850650807), 5)) is None


@pytest.mark.parametrize("text", ["", "C0", "C", "D", "X3", "I5", "C-2", "Ih", "C1001", "D 2"])
def test_unknown_groups_are_refused_naming_the_option(text):
    with pytest.raises(ValueError, match="--sym"):
        parse_symmetry(text)


# ---- reconstruction ------------------------------------------------------------------------
BOX = 32
VOXEL = 4.0


def symmetric_phantom(name: str) -> np.ndarray:
    """The demo phantom's atoms and their images under every operator: V(S·r) = V(r)."""
    positions, amplitudes = phantom_atoms(BOX, atoms_per_voxel=0.006)
    ops = symmetry_operators(name)
    return atoms_volume(np.concatenate([positions @ S.T for S in ops]), np.tile(amplitudes, len(ops)), BOX)


def rotate_map(volume, S):
    """The map r ↦ V(S·r) about voxel BOX // 2 (cubic spline)."""
    c = np.full(3, BOX // 2, dtype=np.float64)
    return ndimage.affine_transform(volume.astype(np.float64), S, offset=c - S @ c, order=3, mode="constant")


def simulate_and_reconstruct(volume, n, snr, symmetry, seed=0):
    rng = np.random.default_rng(seed)
    params = random_parameters(n, rng, max_shift=2.0)
    images = np.concatenate([c[1] for c in simulate_chunks(volume, VOXEL, params, snr, rng, chunk_size=1000)])
    return reconstruct_arrays(images, params.rotations, params.translations, params.ctf_params, VOXEL,
                              split_halves(n, rng), symmetry=symmetry)


def _ball(radius):
    k = np.arange(BOX) - BOX // 2
    return (k[:, None, None] ** 2 + k[None, :, None] ** 2 + k[None, None, :] ** 2) <= radius ** 2


@pytest.mark.parametrize("name", ["D2", "T"])
def test_the_symmetric_phantom_is_invariant_under_its_group(name):
    vol = symmetric_phantom(name)
    inner = _ball(BOX // 2 - 3)
    for S in symmetry_operators(name)[1:]:
        assert np.corrcoef(rotate_map(vol, S)[inner], vol[inner])[0, 1] > 0.97


@pytest.mark.parametrize("name", ["C3", "D2", "T", "O", "I"])
def test_reconstruction_with_sym_is_invariant_under_the_group_and_matches_the_truth(name):
    # Few views (2,400 / order, at least 60), high SNR: the group must fill in the rest.
    vol = symmetric_phantom(name)
    ops = symmetry_operators(name)
    n = max(60, 2400 // len(ops))
    rec = simulate_and_reconstruct(vol, n, snr=20.0, symmetry=name)
    inner = _ball(BOX // 2 - 3)
    for S in ops[1:]:
        assert np.corrcoef(rotate_map(rec.full, S)[inner], rec.full[inner])[0, 1] > 0.97
    # R·S (not S·R) is the pose of the rotated copy: the map is the phantom, not a smear.
    assert np.corrcoef(rec.full[inner], vol[inner])[0, 1] > 0.9
    asymmetric = simulate_and_reconstruct(vol, n, snr=20.0, symmetry="C1")
    assert np.corrcoef(rec.full[inner], vol[inner])[0, 1] > np.corrcoef(asymmetric.full[inner], vol[inner])[0, 1]


def test_symmetric_phantom_with_one_nth_of_the_views_reconstructs_like_all_the_views_without_sym():
    # C4: 1,000 particles with --sym C4 against 4,000 of the same map with C1, SNR 1.
    vol = symmetric_phantom("C4")
    with_sym = simulate_and_reconstruct(vol, 1000, snr=1.0, symmetry="C4", seed=1)
    without = simulate_and_reconstruct(vol, 4000, snr=1.0, symmetry="C1", seed=2)
    f_sym, f_all = fsc(with_sym.full, vol), fsc(without.full, vol)
    last = int(0.8 * (BOX // 2))
    assert np.abs(f_sym[1:last + 1] - f_all[1:last + 1]).max() < 0.05, (f_sym, f_all)
    assert np.abs(with_sym.fsc[1:last + 1] - without.fsc[1:last + 1]).max() < 0.05
    one_view = simulate_and_reconstruct(vol, 1000, snr=1.0, symmetry="C1", seed=1)
    assert fsc(one_view.full, vol)[last] < f_sym[last] - 0.05


def test_simulate_then_reconstruct_with_sym_through_files_beats_no_symmetry(tmp_path):
    # The CLI route: MRC → simulate (STAR angles, origins) → reconstruct --sym D2.
    from recovar_jl.cli import main
    from recovar_jl.jobs.mrc import read_volume, write_volume

    vol = symmetric_phantom("D2")
    write_volume(tmp_path / "d2.mrc", vol, VOXEL)
    assert main(["simulate", str(tmp_path / "d2.mrc"), "--n-images", "800", "--snr", "1", "--out",
                 str(tmp_path / "sim"), "--seed", "3", "-q"]) == 0
    curves = {}
    for sym in ("C1", "D2"):
        assert main(["reconstruct", str(tmp_path / "sim" / "particles.star"), "--out", str(tmp_path / sym),
                     "--sym", sym, "-q"]) == 0
        curves[sym] = fsc(read_volume(tmp_path / sym / "map.mrc")[0], vol)
    last = int(0.8 * (BOX // 2))
    assert np.all(curves["D2"][4:last + 1] >= curves["C1"][4:last + 1] - 0.01)
    assert curves["D2"][last] > curves["C1"][last] + 0.05, curves
