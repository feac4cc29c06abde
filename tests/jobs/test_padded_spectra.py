"""The reconstruct job's FFT stage in one pass (ops.padded_spectra, Julia kernel
"padded_spectra") against the composition it replaces: pad (and mask) in NumPy, centred
rfft, translate."""
import pickle

import numpy as np
import pytest

from recovar_jl.jobs import ops
from recovar_jl.jobs.gridding import crop_slices
from recovar_jl.jobs.particle_mask import image_mask
from recovar_jl.jobs.reconstruct import Backprojector, reconstruct_arrays, split_halves
from recovar_jl.jobs.phantom import gaussian_atom_phantom
from recovar_jl.jobs.simulate import random_parameters, simulate_chunks


def composed_spectra(images, translations, p, mask=None, out=None):
    """The former "fft" stage of Backprojector.add_images (``out``: as ops.padded_spectra)."""
    padded = np.zeros((images.shape[0], p, p), np.float32)
    inner = crop_slices(p, images.shape[1])
    padded[:, inner, inner] = images
    if mask is not None:
        padded[:, inner, inner] *= mask
    spectra = ops.translate_half(ops.rfft_images(padded), np.asarray(translations, np.float32), p)
    if out is None:
        return spectra
    out[:] = spectra
    return out


def relative_error(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


@pytest.mark.parametrize("d,p", [(16, 32), (15, 30), (16, 16), (9, 9), (10, 21), (1, 4)])
@pytest.mark.parametrize("masked", [False, True])
def test_padded_spectra_equal_the_composed_stage(d, p, masked):
    rng = np.random.default_rng(d * 100 + p)
    n = 4
    images = rng.standard_normal((n, d, d)).astype(np.float32)
    translations = (3 * rng.standard_normal((n, 2))).astype(np.float32)
    mask = rng.random((d, d)).astype(np.float32) if masked else None
    out = ops.padded_spectra(images, translations, p, mask)
    assert out.shape == (n, p * (p // 2 + 1)) and out.dtype == np.complex64
    assert relative_error(out, composed_spectra(images, translations, p, mask)) < 1e-6
    # a batch of one gives the batch's row
    one = ops.padded_spectra(images[2:3], translations[2:3], p, mask)
    assert np.array_equal(one[0], out[2])


def test_padded_spectra_empty_batch_and_float64_input():
    out = ops.padded_spectra(np.zeros((0, 8, 8), np.float32), np.zeros((0, 2)), 16)
    assert out.shape == (0, 16 * 9) and out.dtype == np.complex64
    rng = np.random.default_rng(2)
    images = rng.standard_normal((2, 8, 8))
    t = rng.standard_normal((2, 2))
    assert np.array_equal(ops.padded_spectra(images, t, 16), ops.padded_spectra(images.astype(np.float32), t, 16))


def test_padded_spectra_writes_into_out():
    rng = np.random.default_rng(4)
    images = rng.standard_normal((3, 8, 8)).astype(np.float32)
    t = rng.standard_normal((3, 2))
    out = np.full((3, 16 * 9), 7 + 7j, np.complex64)
    assert ops.padded_spectra(images, t, 16, out=out) is out
    assert np.array_equal(out, ops.padded_spectra(images, t, 16))
    for bad in (np.zeros((3, 16 * 9), np.complex128), np.zeros((2, 16 * 9), np.complex64),
                np.zeros((16 * 9, 3), np.complex64).T):
        with pytest.raises(ValueError, match="out"):
            ops.padded_spectra(images, t, 16, out=bad)


@pytest.mark.parametrize("args,name", [
    ((np.zeros((2, 8, 7), np.float32), np.zeros((2, 2)), 16), "images"),
    ((np.zeros((8, 8), np.float32), np.zeros((2, 2)), 16), "images"),
    ((np.zeros((2, 8, 8), np.complex64), np.zeros((2, 2)), 16), "images"),
    ((np.zeros((2, 8, 8), np.float32), np.zeros((3, 2)), 16), "translations"),
    ((np.zeros((2, 8, 8), np.float32), np.zeros((2, 2), np.complex64), 16), "translations"),
    ((np.zeros((2, 8, 8), np.float32), np.zeros((2, 2)), 7), "p"),
    ((np.zeros((2, 8, 8), np.float32), np.zeros((2, 2)), 16.0), "p"),
    ((np.zeros((2, 8, 8), np.float32), np.zeros((2, 2)), 16, np.ones((7, 8))), "mask"),
])
def test_padded_spectra_names_the_bad_argument(args, name):
    with pytest.raises(ValueError, match=name):
        ops.padded_spectra(*args)


@pytest.mark.parametrize("disc", ["linear", "cubic"])
def test_backprojector_sums_equal_those_of_the_composed_stage(disc, monkeypatch):
    rng = np.random.default_rng(7)
    box, n = 16, 25
    images = rng.standard_normal((n, box, box)).astype(np.float32)
    params = random_parameters(n, rng)
    halves = rng.integers(0, 2, n)
    sums = []
    for stage in (ops.padded_spectra, composed_spectra):
        monkeypatch.setattr(ops, "padded_spectra", stage)
        bp = Backprojector(box, 2.0, disc=disc, particle_diameter=2.0 * 12)
        for rows in (slice(0, 15), slice(15, 25)):   # a smaller chunk reuses the spectra buffer
            bp.add_images(images[rows], params.rotations[rows], params.translations[rows], params.ctf_params[rows],
                          halves[rows])
        sums.append(bp)
    new, old = sums
    assert new._image_mask is not None and new.counts == old.counts
    for h in (0, 1):
        assert relative_error(new.data[h], old.data[h]) < 1e-6
        assert np.array_equal(new.weights[h], old.weights[h])   # the CTF² weights do not see the spectra
    # the reused spectra buffer is scratch: never pickled, dropped with the sums
    assert new._spectra_buffer is not None
    assert pickle.loads(pickle.dumps(new))._spectra_buffer is None
    new.release()
    assert new._spectra_buffer is None


def test_reconstructed_maps_and_resolution_are_those_of_the_composed_stage(monkeypatch):
    box, n = 24, 600
    vol = gaussian_atom_phantom(box)
    rng = np.random.default_rng(11)
    params = random_parameters(n, rng, max_shift=3.0)
    images = np.concatenate([c[1] for c in simulate_chunks(vol, 4.0, params, 1.0, rng, chunk_size=300)])
    halves = split_halves(n, np.random.default_rng(0))
    maps = []
    for stage in (ops.padded_spectra, composed_spectra):
        monkeypatch.setattr(ops, "padded_spectra", stage)
        maps.append(reconstruct_arrays(images, params.rotations, params.translations, params.ctf_params, 4.0,
                                       halves, chunk_size=128))
    new, old = maps
    for name in ("half1", "half2", "full"):
        assert relative_error(getattr(new, name), getattr(old, name)) < 1e-5, name
    assert np.allclose(new.fsc, old.fsc, atol=1e-5)
    assert new.resolution == pytest.approx(old.resolution, rel=1e-4) if old.resolution else new.resolution is None
