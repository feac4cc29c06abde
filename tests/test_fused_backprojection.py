"""The reconstruction's fused data + weight backprojection (ops.backproject_pair_into, Julia
kernel "backproject_pair"): the same sums as the two separate backprojections, bit for bit."""
import numpy as np
import pytest

from recovar_jl.jobs import ops
from recovar_jl.jobs.reconstruct import Backprojector
from recovar_jl.jobs.simulate import random_parameters, random_rotations


def _inputs(rng, p, n):
    npix = p * (p // 2 + 1)
    y = (rng.standard_normal((n, npix)) + 1j * rng.standard_normal((n, npix))).astype(np.complex64)
    c = rng.standard_normal((n, npix)).astype(np.float32)
    rot = random_rotations(n, rng).astype(np.float32) if n else np.zeros((0, 3, 3), np.float32)
    return y, c, np.square(c), rot


def _half_volumes(p):
    shape = (p, p, p // 2 + 1)
    return np.zeros(shape, np.complex64), np.zeros(shape, np.float32)


@pytest.mark.parametrize("disc", ["nearest", "linear_interp"])
@pytest.mark.parametrize("p", [16, 15])
@pytest.mark.parametrize("n", [0, 1, 23])
def test_pair_equals_two_backprojections(disc, p, n):
    rng = np.random.default_rng(10 * p + n)
    y, c, w, rot = _inputs(rng, p, n)
    data, weights = _half_volumes(p)
    data[:] = 0.5 + 0.25j     # accumulates onto what is there
    weights[:] = 2.0
    ref_data, ref_weights = data.copy(), weights.copy()
    ops.backproject_pair_into(data, weights, y, c, w, rot, p, disc)
    ops.backproject_half_into(ref_data, y * c, rot, p, disc)
    ops.backproject_half_into(ref_weights, w, rot, p, disc)
    assert np.array_equal(data, ref_data)
    assert np.array_equal(weights, ref_weights)
    if n:
        assert not np.array_equal(data, np.full_like(data, 0.5 + 0.25j))


def test_pair_rejects_bad_arguments(rng):
    p = 8
    y, c, w, rot = _inputs(rng, p, 3)
    data, weights = _half_volumes(p)
    with pytest.raises(ValueError, match="weights"):
        ops.backproject_pair_into(data, weights.astype(np.float64), y, c, w, rot, p, "linear_interp")
    with pytest.raises(ValueError, match="data"):
        ops.backproject_pair_into(data.astype(np.complex128), weights, y, c, w, rot, p, "linear_interp")
    with pytest.raises(ValueError, match="multipliers"):
        ops.backproject_pair_into(data, weights, y, c[:2], w, rot, p, "linear_interp")
    with pytest.raises(ValueError, match="weight_values"):
        ops.backproject_pair_into(data, weights, y, c, w.astype(np.float64), rot, p, "linear_interp")
    with pytest.raises(ValueError, match="cubic"):
        ops.backproject_pair_into(data, weights, y, c, w, rot, p, "cubic")
    with pytest.raises(ValueError, match="rotations"):
        ops.backproject_pair_into(data, weights, y, c, w, rot[:2], p, "linear_interp")
    with pytest.raises(ValueError, match="half_spectra"):
        ops.backproject_pair_into(data, weights, y.astype(np.complex128), c, w, rot, p, "linear_interp")


@pytest.mark.parametrize("disc", ["nearest", "linear"])
def test_backprojector_sums_equal_the_separate_passes(monkeypatch, disc):
    # The Backprojector's accumulators with the fused pass equal those of the former two
    # passes (NumPy's c·y, then data and weights separately), bit for bit, with symmetry.
    rng = np.random.default_rng(5)
    box, n = 16, 30
    images = rng.standard_normal((n, box, box)).astype(np.float32)
    params = random_parameters(n, rng)
    rot, shifts, ctf = params.rotations, params.translations, params.ctf_params
    halves = rng.integers(0, 2, n)
    fused = Backprojector(box, 2.0, disc=disc, symmetry="C2")
    fused.add_images(images, rot, shifts, ctf, halves)

    def separate(data, weights, y, c, w, rotations, p, d):
        ops.backproject_half_into(data, y * c, rotations, p, d)
        ops.backproject_half_into(weights, w, rotations, p, d)

    monkeypatch.setattr(ops, "backproject_pair_into", separate)
    reference = Backprojector(box, 2.0, disc=disc, symmetry="C2")
    reference.add_images(images, rot, shifts, ctf, halves)
    for h in (0, 1):
        assert np.array_equal(fused.data[h], reference.data[h])
        assert np.array_equal(fused.weights[h], reference.weights[h])
        assert np.any(fused.weights[h])
