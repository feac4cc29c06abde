"""recovar 1.0.5 side of bench_forward.py (run under .venv-recovar's python).

    recovar_forward.py time INPUTS.npz REPEATS [BATCH]  → JSON {op: [wall seconds, ...], op:cpu: [CPU seconds, ...]}
    recovar_forward.py memory INPUTS.npz N_IMAGES   → JSON {"peak_extra_bytes": ...} for compute_AtAv

Inputs (written by bench_forward.py): volume, ctf_params, rotations, slices, translations,
noise_variance, N, voxel_size. Every op is run once to compile before timing; results are
blocked on (`block_until_ready`).
"""
import json
import os
import sys
import time

os.environ.setdefault("JAX_PLATFORMS", "cpu")
import jax

jax.config.update("jax_enable_x64", True)  # as recovar's own jax_config does
import numpy as np
from recovar.core import forward
from recovar.core.configs import ForwardModelConfig
from recovar.core.ctf import CTFEvaluator


def load(path):
    with np.load(path) as data:
        inputs = {k: data[k] for k in data.files}
    N = int(inputs["N"])
    config = ForwardModelConfig((N, N), (N, N, N), N, float(inputs["voxel_size"]), 0, "linear_interp", CTFEvaluator())
    return config, inputs


def operations(config, x, batch=None):
    """The timed operations. With `batch`, adjoint_forward_model and compute_AtAv loop over
    batches of that many images and sum the volumes (how recovar's pipelines call them; a
    single call on thousands of box-128 images would need tens of GB for JAX's
    intermediates)."""
    vol = jax.numpy.asarray(x["volume"])
    params = jax.numpy.asarray(x["ctf_params"])
    rot = jax.numpy.asarray(x["rotations"])
    slices = jax.numpy.asarray(x["slices"])
    images = jax.numpy.asarray(x["slices"][None])
    shifts = jax.numpy.asarray(x["translations"][None])
    noise = jax.numpy.asarray(x["noise_variance"])
    N = config.image_shape
    n = rot.shape[0]
    step = n if batch is None else batch
    starts = range(0, n, step)

    def adjoint():
        acc = None
        for s in starts:
            acc = forward.adjoint_forward_model(config, slices[s:s + step], params[s:s + step], rot[s:s + step],
                                                volume=acc)
        return acc

    def normal():
        total = 0
        for s in starts:
            total = total + forward.compute_AtAv(config, vol, params[s:s + step], rot[s:s + step], noise)[0]
        return total

    return {
        "forward_model": lambda: forward.forward_model(config, vol, params, rot),
        "adjoint_forward_model": adjoint,
        "compute_AtAv": normal,
        "batch_translate_images": lambda: forward.batch_translate_images(images, shifts, N),
    }


def vm(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(key)


def main():
    mode, path, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    batch = int(sys.argv[4]) if len(sys.argv) > 4 else None
    config, x = load(path)
    if mode == "time":
        result = {}
        for name, op in operations(config, x, batch).items():
            jax.block_until_ready(op())  # compile
            times, cpu = [], []
            for _ in range(count):
                t0, c0 = time.perf_counter(), time.process_time()
                jax.block_until_ready(op())
                times.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
            result[name] = times
            result[name + ":cpu"] = cpu
        print(json.dumps(result))
    else:  # memory: peak extra bytes of compute_AtAv with the first `count` images
        sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # recovar_jl.rotations (NumPy only)
        from bench_forward import make_inputs

        tiny = make_inputs(16, 8, seed=1)
        tiny_config = ForwardModelConfig((16, 16), (16,) * 3, 16, float(tiny["voxel_size"]), 0, "linear_interp",
                                         CTFEvaluator())
        jax.block_until_ready(operations(tiny_config, tiny)["compute_AtAv"]())  # warm up on a tiny problem
        sub = {k: (x[k][:count] if k in ("ctf_params", "rotations") else x[k]) for k in x}
        op = operations(config, sub)["compute_AtAv"]
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset VmHWM to the current RSS
        before = vm("VmRSS")
        jax.block_until_ready(op())  # includes compiling this shape (does not grow with the image count)
        print(json.dumps({"peak_extra_bytes": vm("VmHWM") - before}))


if __name__ == "__main__":
    main()
