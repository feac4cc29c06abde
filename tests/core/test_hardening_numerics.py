"""Numerical guards: float32 backprojection of 10^5 images stays within 1e-4 of float64.

Box 16, so 10^5 images is quick. The float64 reference uses the same float32 rotations
(same sample points): only the accumulation precision differs. The adversarial case sends
every image to the same voxels (identity rotations, a constant that float32 cannot hold
exactly), where a plain running float32 sum drifts by ~n·eps.
"""
import numpy as np
import pytest
from generators import random_rotations

from recovar_jl.core import slicing

N = 16
N_IMAGES = 100_000
TOLERANCE = 1e-4


def _max_relative_error(single, double):
    """max |single − double| / max |double|, and the same restricted to voxels ≥ 1% of the max."""
    diff = np.abs(single.astype(np.float64) - double)
    scale = np.abs(double).max()
    big = np.abs(double) >= 0.01 * scale
    return diff.max() / scale, (diff[big] / np.abs(double[big])).max()


@pytest.mark.parametrize("disc_type", ["nearest", "linear_interp"])
@pytest.mark.parametrize("noise", [0.0, 1e-3])
def test_float32_backprojection_of_1e5_images_on_one_voxel_set_matches_float64(disc_type, noise):
    # A plain float32 running sum of 10^5 times 0.3 is off by ~4e-4 (measured).
    rotations = np.repeat(np.eye(3, dtype=np.float32)[None], N_IMAGES, 0)
    rng = np.random.default_rng(1)
    slices = (np.float32(0.3) + rng.uniform(0, noise, (N_IMAGES, N * N))).astype(np.float32)
    single = slicing.adjoint_slice_volume(slices, rotations, (N, N), (N, N, N), disc_type)
    double = slicing.adjoint_slice_volume(slices.astype(np.float64), rotations, (N, N), (N, N, N), disc_type)
    assert single.dtype == np.float32 and double.dtype == np.float64
    overall, per_voxel = _max_relative_error(single, double)
    assert overall <= TOLERANCE and per_voxel <= TOLERANCE, (overall, per_voxel)


def test_float32_backprojection_of_1e5_randomly_rotated_images_matches_float64():
    rng = np.random.default_rng(2)
    rotations = random_rotations(N_IMAGES, rng, np.float32)
    slices = (1.0 + rng.standard_normal((N_IMAGES, N * N))).astype(np.float32)
    single = slicing.adjoint_slice_volume(slices, rotations, (N, N), (N, N, N), "linear_interp")
    double = slicing.adjoint_slice_volume(slices.astype(np.float64), rotations, (N, N), (N, N, N), "linear_interp")
    overall, per_voxel = _max_relative_error(single, double)
    assert overall <= TOLERANCE and per_voxel <= TOLERANCE, (overall, per_voxel)


def test_float32_adjoint_forward_model_of_1e5_images_matches_float64():
    from recovar_jl.core import forward
    from recovar_jl.core.configs import ForwardModelConfig
    from recovar_jl.core.ctf import CTFEvaluator

    config = ForwardModelConfig(image_shape=(N, N), volume_shape=(N, N, N), grid_size=N, voxel_size=2.0,
                                padding=0, disc_type="linear_interp", ctf=CTFEvaluator())
    rotations = np.repeat(np.eye(3, dtype=np.float32)[None], N_IMAGES, 0)
    slices = np.full((N_IMAGES, N * N), np.float32(0.3))
    ctf_params = np.zeros((N_IMAGES, 9), np.float32)
    single = forward.adjoint_forward_model(config, slices, ctf_params, rotations, skip_ctf=True)
    double = forward.adjoint_forward_model(config, slices.astype(np.float64), ctf_params, rotations, skip_ctf=True)
    assert single.dtype == np.float32 and double.dtype == np.float64
    overall, per_voxel = _max_relative_error(single, double)
    assert overall <= TOLERANCE and per_voxel <= TOLERANCE, (overall, per_voxel)
