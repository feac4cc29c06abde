"""Outputs that cannot fit in memory are refused up front, with the size they would need.

Every case asks a function for an output of hundreds of GiB from tiny inputs. The cases
run in one subprocess whose address space is capped (RLIMIT_AS, 8 GiB): a function that
forgot to check would get NumPy's own MemoryError there (and fail this test) instead of
over-committing memory on a shared machine. Functions of modules that have not landed are
skipped.
"""
import json
import subprocess
import sys

import pytest

BIG_IMAGE = (2 ** 17, 2 ** 17)  # 1.7e10 pixels per image
BIG_VOLUME = (4000, 4000, 4000)  # 6.4e10 voxels

CASES = {
    "slicing.slice_volume": "slicing.slice_volume(np.ones(8), eye, BIG_IMAGE, (2, 2, 2), 'linear_interp')",
    "slicing.batch_slice_volume": "slicing.batch_slice_volume(np.ones((1, 8)), eye, BIG_IMAGE, (2, 2, 2), 'nearest')",
    "slicing.slice_from_cubic_coefficients":
        "slicing.slice_from_cubic_coefficients(np.ones(8), eye, BIG_IMAGE, (2, 2, 2))",
    "slicing.adjoint_slice_volume":
        "slicing.adjoint_slice_volume(np.zeros((0, 4)), np.zeros((0, 3, 3)), (2, 2), BIG_VOLUME, 'linear_interp')",
    "slicing.batch_adjoint_slice_volume":
        "slicing.batch_adjoint_slice_volume(np.zeros((1, 0, 4)), np.zeros((0, 3, 3)), (2, 2), BIG_VOLUME, 'nearest')",
    "ctf.CTFEvaluator": "ctf.CTFEvaluator()(params, BIG_IMAGE, 1.0)",
    "ctf.evaluate_ctf": "ctf.evaluate_ctf(np.zeros((200000, 2)), np.repeat(params, 200000, 0))",
    "ctf.get_dose_filters": "ctf.get_dose_filters(1.0, BIG_IMAGE, [0.0], [0.0], 300.0)",
    "geometry.batch_get_gridpoint_coords": "geometry.batch_get_gridpoint_coords(eye, BIG_IMAGE, (2, 2, 2))",
    "geometry.batch_get_nearest_gridpoint_indices":
        "geometry.batch_get_nearest_gridpoint_indices(eye, BIG_IMAGE, (2, 2, 2))",
    "geometry.get_unrotated_plane_grid_points": "geometry.get_unrotated_plane_grid_points(BIG_IMAGE)",
    "forward.forward_model": "forward.forward_model(config(BIG_IMAGE, (2, 2, 2)), np.ones(8), params, eye)",
    "forward.adjoint_forward_model":
        "forward.adjoint_forward_model(config((2, 2), BIG_VOLUME), np.zeros((0, 4)), params[:0], eye[:0])",
    "mask.get_radial_mask": "mask.get_radial_mask(BIG_VOLUME)",
    "mask.window_mask": "mask.window_mask(10 ** 5, 0.5, 0.9)",
    "mask.smooth_circular_mask": "mask.smooth_circular_mask(10 ** 5, 3.0, 2.0)",
    "geometry.find_frequencies_within_grid_dist": "geometry.find_frequencies_within_grid_dist(np.zeros((1, 3)), 10 ** 4)",
    "fourier_transform_utils.get_k_coordinate_of_each_pixel":
        "fourier_transform_utils.get_k_coordinate_of_each_pixel(BIG_IMAGE, 1.0)",
    "fourier_transform_utils.get_grid_of_radial_distances":
        "fourier_transform_utils.get_grid_of_radial_distances(BIG_VOLUME)",
    "padding.pad_images_spatial_domain": "padding.pad_images_spatial_domain(np.zeros((1, 2, 2)), 10 ** 6)",
    "padding.pad_volume_spatial_domain": "padding.pad_volume_spatial_domain(np.zeros((2, 2, 2)), 10 ** 4)",
    "linalg.l2_distance": "linalg.l2_distance(np.zeros((10 ** 6, 1)), np.zeros((10 ** 6, 1)))",
    "linalg.broadcast_outer": "linalg.broadcast_outer(np.zeros(10 ** 6), np.zeros(10 ** 6))",
}

SCRIPT = r"""
import importlib, json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, (8 << 30, 8 << 30))
import numpy as np
BIG_IMAGE, BIG_VOLUME = %r, %r
eye = np.eye(3, dtype=np.float32)[None]
params = np.array([[15000, 15000, 0, 300, 2.7, 0.1, 0, 0, 1]], np.float32)
def config(image_shape, volume_shape):
    from recovar_jl.core.configs import ForwardModelConfig
    from recovar_jl.core.ctf import CTFEvaluator
    return ForwardModelConfig(image_shape=image_shape, volume_shape=volume_shape, grid_size=volume_shape[0],
                              voxel_size=1.0, padding=0, disc_type="linear_interp", ctf=CTFEvaluator())
cases = json.loads(sys.argv[1])
for name, code in cases.items():
    module, function = name.split(".")
    try:
        mod = importlib.import_module("recovar_jl.core." + module)
    except ImportError:
        mod = None
    if mod is None or not hasattr(mod, function):
        print(json.dumps({"case": name, "outcome": "missing"}), flush=True)
        continue
    globals()[module] = mod
    try:
        eval(code)
        result = {"outcome": "returned"}
    except MemoryError as exc:
        result = {"outcome": "refused" if "would need" in str(exc) else "numpy-memory-error", "message": str(exc)}
    except Exception as exc:
        result = {"outcome": type(exc).__name__, "message": str(exc)}
    result["case"] = name
    print(json.dumps(result), flush=True)
""" % (BIG_IMAGE, BIG_VOLUME)


@pytest.fixture(scope="module")
def outcomes():
    out = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(CASES)], capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    results = {}
    for line in out.stdout.splitlines():
        record = json.loads(line)
        results[record["case"]] = record
    return results


@pytest.mark.parametrize("case", sorted(CASES))
def test_output_too_large_for_memory_is_refused_with_its_size(outcomes, case):
    record = outcomes[case]
    if record["outcome"] == "missing":
        pytest.skip(f"{case} has not landed")
    assert record["outcome"] == "refused", record
    message = record["message"]
    assert "GiB" in message and "would need" in message
