"""The fused backprojection with the CTF evaluated in the kernel (ops.backproject_pair_ctf_into,
Julia kernel "backproject_pair_ctf", CtfModes.kernel_ctf): the sums of the multiplier-array
path (CtfModes.multipliers, the reference) for every CTF mode, within float32 rounding."""
import numpy as np
import pytest

from recovar_jl.jobs import ops
from recovar_jl.jobs.ctf_modes import CtfModes, KernelCTF
from recovar_jl.jobs.reconstruct import Backprojector
from recovar_jl.jobs.simulate import random_parameters, random_rotations

APIX = 2.5
MODES = {
    "full": CtfModes(),
    "none": CtfModes(correction="none"),
    "phase-flip": CtfModes(correction="phase-flip"),
    "phase-flipped": CtfModes(correction="phase-flipped"),
    "invert": CtfModes(invert_contrast=True),
    "phase-flip-invert": CtfModes(correction="phase-flip", invert_contrast=True),
    "maxres": CtfModes(maxres=9.0),
    "intact-first-peak": CtfModes(intact_first_peak=True, invert_contrast=True),
}


def _inputs(rng, p, n):
    npix = p * (p // 2 + 1)
    y = (rng.standard_normal((n, npix)) + 1j * rng.standard_normal((n, npix))).astype(np.complex64)
    rot = random_rotations(n, rng).astype(np.float32) if n else np.zeros((0, 3, 3), np.float32)
    params = random_parameters(max(n, 1), rng).ctf_params[:n]
    params[:, 7] = 30.0 * (np.arange(n) % 2)     # some images with a B-factor
    limits = np.where(np.arange(n) % 3 == 1, 0.12, np.inf) if n else None
    return y, rot, params, limits


def _sums(p, y, rot, disc, ctf=None, multipliers=None):
    shape = (p, p, p // 2 + 1)
    data, weights = np.zeros(shape, np.complex64), np.zeros(shape, np.float32)
    if ctf is not None:
        ops.backproject_pair_ctf_into(data, weights, y, ctf, rot, p, disc)
    else:
        ops.backproject_pair_into(data, weights, y, *multipliers, rot, p, disc)
    return data, weights


def _close(a, b):
    scale = max(float(np.abs(b).max()), 1e-30)
    return float(np.abs(a - b).max()) / scale


@pytest.mark.parametrize("mode", sorted(MODES))
@pytest.mark.parametrize("disc", ["nearest", "linear_interp"])
@pytest.mark.parametrize("p,n", [(16, 9), (15, 9), (16, 1), (15, 0)])
def test_in_kernel_ctf_equals_the_multiplier_arrays(mode, disc, p, n):
    rng = np.random.default_rng(100 * p + n + len(mode))
    y, rot, params, limits = _inputs(rng, p, n)
    modes = MODES[mode]
    ref_data, ref_weights = _sums(p, y, rot, disc, multipliers=modes.multipliers(params, p, APIX, limits))
    data, weights = _sums(p, y, rot, disc, ctf=modes.kernel_ctf(params, p, APIX, limits))
    assert _close(data, ref_data) <= 1e-6
    assert _close(weights, ref_weights) <= 1e-6
    assert np.any(weights) == (n > 0)


def test_kernel_ctf_describes_each_mode():
    params = random_parameters(3, np.random.default_rng(1)).ctf_params
    full = CtfModes().kernel_ctf(params, 16, APIX)
    assert (full.kind, full.correction, full.ctf_sign, full.data_sign) == (2, 0, -1.0, 1.0)
    assert np.all(np.isinf(full.limits)) and full.values.dtype == np.float32
    none = CtfModes(correction="none", invert_contrast=True, maxres=8.0).kernel_ctf(params, 16, APIX, [0.1, 0.2, 0.3])
    assert (none.kind, none.correction, none.data_sign) == (0, 1, -1.0)
    assert np.allclose(none.limits, [0.1, 0.125, 0.125])
    peak = CtfModes(correction="phase-flipped", intact_first_peak=True).kernel_ctf(params, 16, APIX)
    assert (peak.kind, peak.correction, peak.ctf_sign) == (1, 3, 1.0)
    assert peak.values.shape == (3, 16 * 9)
    assert len(peak.rows(slice(1, 3))) == 2 and peak.rows(np.array([2])).limits.shape == (1,)


def test_bad_kernel_ctf_arguments():
    rng = np.random.default_rng(2)
    p = 16
    y, rot, params, _ = _inputs(rng, p, 4)
    good = CtfModes().kernel_ctf(params, p, APIX)
    shape = (p, p, p // 2 + 1)
    data, weights = np.zeros(shape, np.complex64), np.zeros(shape, np.float32)
    with pytest.raises(ValueError, match="ctf must be a KernelCTF"):
        ops.backproject_pair_ctf_into(data, weights, y, (params,), rot, p, "linear_interp")
    with pytest.raises(ValueError, match="ctf describes 3 images"):
        ops.backproject_pair_ctf_into(data, weights, y, good.rows(slice(0, 3)), rot, p, "linear_interp")
    with pytest.raises(ValueError, match="pixels per image"):
        tab = KernelCTF(1, np.zeros((4, 5), np.float32), good.limits, 0, 1.0, 1.0, APIX)
        ops.backproject_pair_ctf_into(data, weights, y, tab, rot, p, "linear_interp")
    with pytest.raises(ValueError, match="cubic"):
        ops.backproject_pair_ctf_into(data, weights, y, good, rot, p, "cubic")
    with pytest.raises(ValueError, match="data must be"):
        ops.backproject_pair_ctf_into(weights, weights, y, good, rot, p, "linear_interp")
    for kwargs, match in (({"kind": 5}, "kind"), ({"correction": 4}, "correction"), ({"ctf_sign": 0.5}, "ctf_sign"),
                          ({"limits": good.limits.astype(np.float32)}, "limits"),
                          ({"limits": good.limits[:2]}, "values describe 4 images")):
        fields = dict(kind=2, values=good.values, limits=good.limits, correction=0, ctf_sign=-1.0, data_sign=1.0,
                      voxel_size=APIX)
        fields.update(kwargs)
        with pytest.raises(ValueError, match=match):
            KernelCTF(**fields)
    with pytest.raises(ValueError, match="ctf_params"):
        CtfModes().kernel_ctf(params[:, :5], p, APIX)
    assert not np.any(data) and not np.any(weights)


@pytest.mark.parametrize("disc", ["nearest", "linear"])
@pytest.mark.parametrize("mode", ["full", "phase-flip", "intact-first-peak"])
def test_backprojector_in_kernel_ctf_equals_the_arrays(disc, mode):
    # add_images (in-kernel CTF) against add_spectra with the reference arrays, symmetry C2,
    # interleaved halves and a per-particle limit; then the same maps and FSC.
    rng = np.random.default_rng(4)
    box, n = 16, 40
    images = rng.standard_normal((n, box, box)).astype(np.float32)
    params = random_parameters(n, rng)
    halves = rng.integers(0, 2, n)
    limits = np.where(np.arange(n) % 4 == 0, 0.1, 0.3)
    kernel = Backprojector(box, APIX, disc=disc, symmetry="C2", ctf_modes=MODES[mode])
    kernel.add_images(images, params.rotations, params.translations, params.ctf_params, halves, limits)
    arrays = Backprojector(box, APIX, disc=disc, symmetry="C2", ctf_modes=MODES[mode])
    order = np.argsort(halves, kind="stable")
    p = arrays.padded_box
    spectra = ops.translate_half(ops.rfft_images(np.pad(images[order], ((0, 0), (p // 4, p // 4), (p // 4, p // 4)))),
                                 params.translations[order].astype(np.float32), p)
    m_data, m_weight = arrays.ctf_modes.multipliers(params.ctf_params[order], p, APIX, limits[order])
    arrays.add_spectra(spectra, params.rotations[order], m_data, halves[order], m_weight)
    assert kernel.counts == arrays.counts
    for h in (0, 1):
        assert _close(kernel.data[h], arrays.data[h]) <= 1e-6
        assert _close(kernel.weights[h], arrays.weights[h]) <= 1e-6
    a, b = kernel.reconstruct(), arrays.reconstruct()
    assert _close(a.full, b.full) <= 1e-5
    assert np.allclose(a.fsc, b.fsc, atol=1e-5)


def test_kernel_ctf_needs_the_fused_pass():
    bp = Backprojector(16, APIX, disc="cubic")
    p = bp.padded_box
    y, rot, params, _ = _inputs(np.random.default_rng(6), p, 2)
    with pytest.raises(ValueError, match="KernelCTF"):
        bp.add_spectra(y, rot, CtfModes().kernel_ctf(params, p, APIX), np.array([0, 1]))
