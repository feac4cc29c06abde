"""Will a job fit in memory? Checked before the job starts (and before Julia is loaded).

A job's need is its estimated peak (each job module states its formula: ``simulate``,
``reconstruct``, ``phantom`` ``estimated_peak_bytes``) plus :data:`RUNTIME_BYTES` for the
Julia runtime, FFTW plans and the libraries. What the machine has is the smallest of
``MemAvailable`` in ``/proc/meminfo`` and the headroom of every memory-limited cgroup the
process is in (v2 ``memory.max − memory.current``, v1 ``memory.limit_in_bytes −
memory.usage_in_bytes``; reclaimable file cache counted as free). ``RECOVAR_JL_MEMORY_AVAILABLE``
(bytes, or with a K/M/G/T suffix, powers of 1024) overrides it, for tests or to be strict.
Sizes are printed in GB = 10⁹ bytes.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from .errors import JobError

RUNTIME_BYTES = 600 * 10**6   # Julia + FFTW + NumPy + matplotlib at rest, measured ≈ 0.46 GB
ENV_OVERRIDE = "RECOVAR_JL_MEMORY_AVAILABLE"
_SUFFIXES = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}


def gb(n_bytes: float) -> str:
    """``12.3 GB`` (10⁹ bytes), two significant decimals below 10 GB."""
    value = n_bytes / 1e9
    return f"{value:.2f} GB" if value < 10 else f"{value:.1f} GB"


def _parse_size(text: str) -> int:
    t = text.strip().upper().removesuffix("B").removesuffix("I")
    unit = t[-1:] if t[-1:] in _SUFFIXES and t[-1:] else ""
    number = t[:-1] if unit else t
    try:
        value = float(number)
    except ValueError:
        raise JobError(f"{ENV_OVERRIDE}={text!r} is not a size; give bytes, e.g. 8G or 8589934592") from None
    if not value >= 0:
        raise JobError(f"{ENV_OVERRIDE}={text!r} must not be negative")
    return int(value * _SUFFIXES[unit])


def _meminfo_available(path: Path = Path("/proc/meminfo")) -> Optional[int]:
    try:
        for line in path.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _read_int(path: Path) -> Optional[int]:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None   # "max" (v2) = no limit


def _inactive_file(stat: Path, key: str) -> int:
    try:
        for line in stat.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
    except (OSError, ValueError):
        pass
    return 0


def _cgroup_headroom(root: Path = Path("/sys/fs/cgroup"), proc: Path = Path("/proc/self/cgroup")) -> Optional[int]:
    """Smallest (limit − usage) over this process's cgroup and its ancestors, or None."""
    try:
        lines = proc.read_text().splitlines()
    except OSError:
        return None
    best = None
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, rel = parts
        if controllers == "":   # cgroup v2
            base, limit_name, usage_name, stat_key = root, "memory.max", "memory.current", "inactive_file"
        elif "memory" in controllers.split(","):
            base, limit_name, usage_name, stat_key = (root / "memory", "memory.limit_in_bytes",
                                                      "memory.usage_in_bytes", "total_inactive_file")
        else:
            continue
        directory = base / rel.lstrip("/")
        while True:
            limit, usage = _read_int(directory / limit_name), _read_int(directory / usage_name)
            # v1 reports "no limit" as a huge number (close to 2**63).
            if limit is not None and usage is not None and limit < 2**60:
                headroom = limit - usage + _inactive_file(directory / "memory.stat", stat_key)
                best = headroom if best is None else min(best, headroom)
            if directory == base or directory.parent == directory:
                break
            directory = directory.parent
    return best


def available_bytes() -> Optional[int]:
    """Bytes this process can still use (see the module docstring); None if unknown."""
    override = os.environ.get(ENV_OVERRIDE)
    if override is not None and override.strip():
        return _parse_size(override)
    candidates = [v for v in (_meminfo_available(), _cgroup_headroom()) if v is not None]
    return max(0, min(candidates)) if candidates else None


def check_fits(job_bytes: int, what: str, lower: str) -> None:
    """Raise JobError (one line) if ``job_bytes`` + the runtime will not fit in memory.

    ``what`` names the job and its size (``"simulate at box 400 with --pad 2"``); ``lower``
    says which option lowers the need (``"use --pad 1.5 or a smaller box"``).
    """
    available = available_bytes()
    needed = int(job_bytes) + RUNTIME_BYTES
    if available is not None and needed > available:
        raise JobError(f"{what} needs about {gb(needed)} of memory but {gb(available)} is available; {lower}")


def julia_threads() -> int:
    """Threads the Julia runtime will use (read without starting it)."""
    from .. import _julia

    try:
        return int(_julia._thread_count())
    except Exception:   # a bad RECOVAR_JL_NUM_THREADS is reported by the bridge itself
        return os.cpu_count() or 1


def largest_fitting_box(job_bytes, box: int) -> Optional[int]:
    """Largest even box ≤ ``box`` (≥ 8) whose ``job_bytes(box)`` fits, or None."""
    available = available_bytes()
    if available is None:
        return box
    return next((b for b in range(box - box % 2, 7, -2) if job_bytes(b) + RUNTIME_BYTES <= available), None)


# ---- the three jobs ---------------------------------------------------------------------------
def _lower(pad: float, need_at_pad1: int, other: str) -> str:
    """``lower --pad (--pad 1 needs …) or <other>``; ``lower <other>`` at --pad 1."""
    if pad > 1:
        return f"lower --pad (--pad 1 needs {gb(need_at_pad1 + RUNTIME_BYTES)}) or {other}"
    return f"lower {other}"


def simulate_bytes(box: int, pad: float, n_images: int, chunk_size: Optional[int] = None) -> int:
    from .simulate import estimated_peak_bytes

    return estimated_peak_bytes(box, pad, n_images, chunk_size)


def _reconstruct_chunk(box: int, pad: float, chunk_size: Optional[int]) -> int:
    """``--chunk``, or the job's default for the box when None."""
    from . import reconstruct

    if chunk_size is not None:
        return int(chunk_size)
    return reconstruct.chunk_size_for(box, pad) if hasattr(reconstruct, "chunk_size_for") else 256


def reconstruct_bytes(box: int, pad: float, chunk_size: Optional[int]) -> int:
    """reconstruct.estimated_peak_bytes without the runtime (if it counts one, as BASE_BYTES:
    check_fits adds RUNTIME_BYTES)."""
    from . import reconstruct

    total = reconstruct.estimated_peak_bytes(box, pad, _reconstruct_chunk(box, pad, chunk_size), julia_threads())
    return max(0, total - getattr(reconstruct, "BASE_BYTES", 0))


def demo_bytes(box: int, pad: float, n_images: int) -> int:
    """The largest of the demo's three steps; the phantom (4·box³) is held throughout."""
    from .phantom import estimated_peak_bytes as phantom_bytes

    return max(phantom_bytes(box), simulate_bytes(box, pad, n_images), reconstruct_bytes(box, pad, None) + 4 * box ** 3)


def check_simulate(box: int, pad: float, n_images: int, chunk_size: Optional[int] = None) -> None:
    check_fits(simulate_bytes(box, pad, n_images, chunk_size), f"simulate at box {box} with --pad {pad:g}",
               _lower(pad, simulate_bytes(box, 1.0, n_images, chunk_size), "the box (bin the map)"))


def check_reconstruct(box: int, pad: float, chunk_size: Optional[int]) -> None:
    smaller = max(1, _reconstruct_chunk(box, pad, chunk_size) // 4)
    chunk = f"--chunk (--chunk {smaller} needs {gb(reconstruct_bytes(box, pad, smaller) + RUNTIME_BYTES)})"
    check_fits(reconstruct_bytes(box, pad, chunk_size), f"reconstruct at box {box} with --pad {pad:g}",
               _lower(pad, reconstruct_bytes(box, 1.0, chunk_size), chunk))


def check_demo(box: int, pad: float, n_images: int) -> None:
    largest = largest_fitting_box(lambda b: demo_bytes(b, pad, n_images), box)
    other = f"--box ({largest} is the largest that fits with --pad {pad:g})" if largest else "--box"
    check_fits(demo_bytes(box, pad, n_images), f"demo at --box {box} with --pad {pad:g}",
               _lower(pad, demo_bytes(box, 1.0, n_images), other))
