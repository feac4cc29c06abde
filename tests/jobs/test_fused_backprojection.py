"""The reconstruction's fused data + weight backprojection (ops.backproject_pair_into, Julia
kernel "backproject_pair"): the same sums as the two separate backprojections, bit for bit."""
import numpy as np
import pytest

from recovar_jl.jobs import ops
from recovar_jl.jobs.reconstruct import Backprojector
from recovar_jl.jobs.symmetry import operator_rotations
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


def _former_add_images(bp, images, rotations, translations, ctf_params, halves):
    """The Backprojector's former chunk step: NumPy products with the keep mask, a copy of each
    half set's rows, two backprojections per half set and symmetry operator (the FFT stage is
    today's, compared with its former composition in test_padded_spectra.py)."""
    p = bp.padded_box
    spectra = ops.padded_spectra(images, translations.astype(np.float32), p)
    ctf, weights = bp.ctf_modes.multipliers(ctf_params, p, bp.voxel_size)
    ctf = ctf * bp._keep
    data = spectra * ctf
    weights = weights * bp._keep
    for h in (0, 1):
        sel = np.flatnonzero(halves == h)
        for r_sym in operator_rotations(rotations[sel].astype(np.float32), bp.operators):
            ops.backproject_half_into(bp.data[h], data[sel], r_sym, p, bp.disc)
            ops.backproject_half_into(bp.weights[h], weights[sel], r_sym, p, bp.disc)
        bp.counts[h] += sel.size


@pytest.mark.parametrize("disc", ["nearest", "linear"])
@pytest.mark.parametrize("box,n", [(16, 30), (14, 1)])
def test_backprojector_sums_equal_the_former_two_passes(disc, box, n):
    # Fused pass, no keep-mask product, halves made consecutive: the accumulators equal
    # those of the former chunk step bit for bit (interleaved halves, symmetry C2).
    rng = np.random.default_rng(5 + n)
    images = rng.standard_normal((n, box, box)).astype(np.float32)
    params = random_parameters(n, rng)
    halves = rng.integers(0, 2, n) if n > 1 else np.array([1])
    fused = Backprojector(box, 2.0, disc=disc, symmetry="C2")
    fused.add_images(images, params.rotations, params.translations, params.ctf_params, halves)
    former = Backprojector(box, 2.0, disc=disc, symmetry="C2")
    _former_add_images(former, images, params.rotations, params.translations, params.ctf_params, halves)
    assert fused.counts == former.counts
    for h in (0, 1):
        assert np.array_equal(fused.data[h], former.data[h])
        assert np.array_equal(fused.weights[h], former.weights[h])
    assert np.any(fused.weights[halves[0]])


def test_kernel_clip_is_the_keep_mask():
    # The fused pass skips the product with the keep mask because the kernel never scatters
    # the pixels outside it: multipliers zeroed outside the mask give the same sums.
    rng = np.random.default_rng(9)
    bp = Backprojector(16, 2.0)
    p = bp.padded_box
    y, c, w, rot = _inputs(rng, p, 6)
    data, weights = _half_volumes(p)
    ops.backproject_pair_into(data, weights, y, c, w, rot, p, "linear_interp")
    masked_data, masked_weights = _half_volumes(p)
    ops.backproject_pair_into(masked_data, masked_weights, y, c * bp._keep, w * bp._keep, rot, p, "linear_interp")
    assert np.array_equal(data, masked_data)
    assert np.array_equal(weights, masked_weights)
    assert not bp._keep.all()
