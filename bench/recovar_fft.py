"""recovar 1.0.5 side of bench_fft.py: times recovar's centered transforms (JAX, CPU).

Run by bench_fft.py under .venv-recovar's python:
    recovar_fft.py SIZES.json REPEATS CHECK_INPUTS.npz CHECK_OUTPUTS.npz
Times the same operations on same-shaped random inputs (float32/complex64, JAX default
precision) and prints one JSON object {case: [seconds per repeat, ...]}; also runs every
operation on the small arrays of CHECK_INPUTS.npz and saves the results for a correctness check.
"""
import json
import sys
import time

import numpy as np


def main():
    sizes_path, repeats, check_in, check_out = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    import jax

    from recovar.core import fourier_transform_utils as ftu

    sizes = json.load(open(sizes_path))
    n_images, side, vol = sizes["n_images"], sizes["side"], sizes["volume_side"]
    rng = np.random.default_rng(1)
    images_c = (rng.standard_normal((n_images, side, side)) + 1j * rng.standard_normal((n_images, side, side))).astype(np.complex64)
    images_r = rng.standard_normal((n_images, side, side)).astype(np.float32)
    volume_c = (rng.standard_normal((vol,) * 3) + 1j * rng.standard_normal((vol,) * 3)).astype(np.complex64)
    volume_r = rng.standard_normal((vol,) * 3).astype(np.float32)
    half_images = np.asarray(ftu.get_dft2_real(images_r))
    half_volume = np.asarray(ftu.get_dft3_real(volume_r))
    ops = {
        "dft2": (ftu.get_dft2, images_c), "dft2_real": (ftu.get_dft2_real, images_r),
        "idft2_real": (ftu.get_idft2_real, half_images), "dft3": (ftu.get_dft3, volume_c),
        "dft3_real": (ftu.get_dft3_real, volume_r), "idft3_real": (ftu.get_idft3_real, half_volume),
    }
    timings = {}
    for name, (fn, data) in ops.items():
        device_data = jax.device_put(data)
        fn(device_data).block_until_ready()  # warm-up: compile
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn(device_data).block_until_ready()
            times.append(time.perf_counter() - start)
        timings[name] = times
        del device_data
    with np.load(check_in) as small:
        np.savez(check_out, **{name: np.asarray(fn(small[name])) for name, (fn, _) in ops.items()})
    print(json.dumps(timings))


if __name__ == "__main__":
    main()
