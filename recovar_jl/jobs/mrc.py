"""MRC volumes and particle stacks, and outputs that only appear once complete.

Volumes follow recovar's array convention: the array returned by :func:`read_volume` is
indexed ``[x, y, z]`` (the transpose of mrcfile's ``[z, y, x]``), so that volume axis 0 is
RELION's X and the rotation matrices of :mod:`.star` apply directly. Images are kept as
stored, ``[y, x]`` (row = y, column = x).
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

from .errors import JobError


def _open_mrc(path: Path, what: str, hint: str):
    import mrcfile

    if not path.exists():
        raise JobError(f"{path}: no such file; {hint}")
    if path.is_dir():
        raise JobError(f"{path} is a directory, expected an MRC file; {hint}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return mrcfile.mmap(str(path), mode="r", permissive=True)
    except Exception as exc:
        raise JobError(f"{path} could not be read as an MRC {what} ({type(exc).__name__}: "
                       f"{str(exc).splitlines()[0] if str(exc) else 'no detail'}); {hint}") from None


def _missing_data(mrc, path: Path) -> str:
    """Why mrcfile found no data block: 'is truncated: N of M images' or an unreadable header."""
    import mrcfile.utils

    header = mrc.header
    try:
        dtype = mrcfile.utils.data_dtype_from_header(header)
        nx, ny, nz = int(header.nx), int(header.ny), int(header.nz)
        offset = header.nbytes + int(header.nsymbt)
        per_image = nx * ny * dtype.itemsize
        if nx > 0 and ny > 0 and nz > 0:
            complete = max(0, (path.stat().st_size - offset) // per_image)
            if complete < nz:
                return f"is truncated: {complete} of {nz} images ({nx}×{ny}) are complete"
    except Exception:  # a header too broken to size the data
        pass
    return "has an unreadable MRC header or data block"


def read_volume(path, hint: str = "give a cubic MRC volume") -> tuple:
    """Read a cubic MRC volume → ``(volume[x, y, z] float32, voxel size Å or None)``."""
    path = Path(path)
    mrc = _open_mrc(path, "volume", hint)
    try:
        data = mrc.data
        if data is None:
            raise JobError(f"{path} {_missing_data(mrc, path)}; {hint}")
        if data.ndim != 3 or len(set(data.shape)) != 1:
            raise JobError(f"{path} holds an array of shape {data.shape}, expected a cubic volume "
                           f"(N, N, N); {hint}")
        volume = np.ascontiguousarray(np.asarray(data, dtype=np.float32).transpose(2, 1, 0))
        voxel = float(mrc.voxel_size.x)
    finally:
        mrc.close()
    if not np.all(np.isfinite(volume)):
        raise JobError(f"{path} contains NaN or Inf values; give a finite volume")
    return volume, (voxel if voxel > 0 else None)


def _write_mrc(path: Path, data_zyx: np.ndarray, voxel_size: float, stack: bool = False) -> None:
    import mrcfile

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with mrcfile.new(str(path), overwrite=True) as mrc:
            mrc.set_data(np.ascontiguousarray(data_zyx, dtype=np.float32))
            if stack:
                mrc.set_image_stack()
            mrc.voxel_size = float(voxel_size)
            mrc.update_header_stats()


def write_volume(path, volume_xyz: np.ndarray, voxel_size: float) -> None:
    """Write ``volume[x, y, z]`` as an MRC file (float32, voxel size in the header)."""
    _write_mrc(Path(path), np.asarray(volume_xyz, dtype=np.float32).transpose(2, 1, 0), voxel_size)


class StackWriter:
    """A float32 MRC image stack of known size, filled chunk by chunk.

    Chunks go to the file with positioned writes, not through a memory map, so the process
    does not keep the written pages resident: memory stays one chunk whatever the stack size.
    The header statistics (min, max, mean, rms) are accumulated chunk by chunk.
    """

    def __init__(self, path, n_images: int, box: int, voxel_size: float):
        import mrcfile

        self.path = Path(path)
        self._shape = (int(n_images), int(box), int(box))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with mrcfile.new_mmap(str(self.path), shape=self._shape, mrc_mode=2, overwrite=True) as mrc:
                mrc.set_image_stack()
                mrc.voxel_size = float(voxel_size)
                self._dtype = mrc.data.dtype
                self._offset = int(mrc.header.nbytes + mrc.extended_header.nbytes)
        self._file = open(self.path, "r+b")
        self._count = 0
        self._min, self._max, self._mean, self._m2 = np.inf, -np.inf, 0.0, 0.0

    def write(self, start: int, images: np.ndarray) -> None:
        data = np.ascontiguousarray(images, dtype=self._dtype)
        if data.size == 0:
            return
        if data.shape[1:] != self._shape[1:] or not 0 <= start <= self._shape[0] - data.shape[0]:
            raise ValueError(f"images of shape {data.shape} at {start} do not fit a stack of shape {self._shape}")
        view, position = memoryview(data.reshape(-1)).cast("B"), self._offset + start * data[0].nbytes
        while view:   # pwrite may write less than asked (at most 2 GiB per call on Linux)
            done = os.pwrite(self._file.fileno(), view, position)
            view, position = view[done:], position + done
        # Chan et al.'s pairwise update of the mean and the sum of squared deviations.
        n, mean = data.size, float(np.mean(data, dtype=np.float64))
        m2 = float(np.sum((data.astype(np.float64) - mean) ** 2))
        total = self._count + n
        delta = mean - self._mean
        self._m2 += m2 + delta * delta * self._count * n / total
        self._mean += delta * n / total
        self._count = total
        self._min, self._max = min(self._min, float(data.min())), max(self._max, float(data.max()))

    def close(self) -> None:
        import mrcfile

        if self._file is None:
            return
        self._file.close()
        self._file = None
        if self._count:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with mrcfile.mmap(str(self.path), mode="r+", permissive=True) as mrc:
                    mrc.header.dmin = np.float32(self._min)
                    mrc.header.dmax = np.float32(self._max)
                    mrc.header.dmean = np.float32(self._mean)
                    mrc.header.rms = np.float32(np.sqrt(self._m2 / self._count))


class _Stack:
    """Where one stack's images are in its file: ``offset`` bytes, ``dtype`` as stored
    (byte order included), ``count`` images of ``box``² pixels."""

    def __init__(self, path: Path, offset: int, dtype: np.dtype, count: int, box: int):
        self.path, self.offset, self.dtype, self.count, self.box = path, offset, dtype, count, box
        self.image_bytes = dtype.itemsize * box * box


class StackReader:
    """Particle stacks referenced by a STAR file, read in chunks with positional reads.

    Opening checks every stack: it exists, is an MRC image stack, all stacks have the same
    square box (equal to ``expected_box`` if given), and every referenced index is in range.
    Reading (:meth:`read`) uses ``preadv`` straight into the output: no mapped pages stay in
    the resident set and the page cache is used as it is (a warm stack is read from memory).
    At most ``MAX_OPEN`` stack files are open at once (one stack per micrograph is common).
    """

    _HINT = "check _rlnImageName in the STAR file and that the stacks are next to it or in the current directory"
    MAX_OPEN = 64
    _IOV_MAX = 1024   # buffers per preadv call (Linux IOV_MAX)

    def __init__(self, star_path: Path, stack_paths: Sequence[Path], stack_ids: np.ndarray,
                 image_indices: np.ndarray, expected_box: Optional[int] = None):
        self._stacks: List[_Stack] = []
        self._fds: Dict[int, int] = {}     # open stack files, oldest first
        self.stack_ids = np.asarray(stack_ids)
        self.image_indices = np.asarray(image_indices)
        first = None
        for sid, path in enumerate(stack_paths):
            path = Path(path)
            if not path.exists():
                raise JobError(f"stack {path} (named in {star_path}) does not exist; {self._HINT}")
            with _open_mrc(path, "image stack", self._HINT) as mrc:
                data = mrc.data
                if data is None:
                    raise JobError(f"{path} {_missing_data(mrc, path)}; {self._HINT}")
                offset = int(mrc.header.nbytes) + int(mrc.extended_header.nbytes)
                shape, dtype = data.shape, data.dtype
                del data
            if len(shape) not in (2, 3):
                raise JobError(f"{path} is not an MRC image stack (data shape {shape}); {self._HINT}")
            if len(shape) == 2:
                shape = (1, *shape)
            if shape[1] != shape[2]:
                raise JobError(f"{path} has non-square {shape[2]}×{shape[1]} images; "
                               f"re-extract the particles in a square box")
            if first is None:
                first = (path, shape[1])
            elif shape[1] != first[1]:
                raise JobError(f"{path} has {shape[1]}×{shape[1]} images but {first[0]} has "
                               f"{first[1]}×{first[1]}; all stacks must have the same box size, "
                               f"re-extract or rescale them to one box")
            if expected_box is not None and shape[1] != expected_box:
                raise JobError(f"{path} has {shape[1]}×{shape[1]} images but {star_path} says "
                               f"_rlnImageSize {expected_box}; fix _rlnImageSize or the stack")
            self._stacks.append(_Stack(path, offset, np.dtype(dtype), int(shape[0]), int(shape[1])))
            used = self.image_indices[self.stack_ids == sid]
            if used.size and used.max() >= shape[0]:
                bad = int(np.flatnonzero((self.stack_ids == sid) & (self.image_indices >= shape[0]))[0])
                raise JobError(f"particle {bad + 1} of {star_path} asks for image "
                               f"{int(self.image_indices[bad]) + 1} of {path}, which has only "
                               f"{shape[0]} images; fix _rlnImageName or give the complete stack")
        self.box = int(first[1])

    def _fd(self, sid: int) -> int:
        fd = self._fds.pop(sid, None)
        if fd is None:
            if len(self._fds) >= self.MAX_OPEN:
                os.close(self._fds.pop(next(iter(self._fds))))
            fd = os.open(self._stacks[sid].path, os.O_RDONLY)
        self._fds[sid] = fd   # now the newest
        return fd

    def _read_run(self, sid: int, first_image: int, targets: list) -> None:
        """Images first_image, first_image+1, … of stack ``sid`` into ``targets`` (one
        C-contiguous (box, box) array of the stored dtype per image), in one preadv call."""
        stack = self._stacks[sid]
        views = [memoryview(t).cast("B") for t in targets]
        position = stack.offset + first_image * stack.image_bytes
        expected = len(views) * stack.image_bytes
        done = os.preadv(self._fd(sid), views, position)
        if done != expected:
            raise JobError(f"{stack.path}: could read only {done} of {expected} bytes at offset {position} "
                           f"(the file was truncated or changed while reading)")

    def read(self, rows: np.ndarray) -> np.ndarray:
        """Images of the particles ``rows`` (indices into the STAR table), in that order →
        (n, box, box) float32. Consecutive images of a stack are read in one system call
        whatever their order in ``rows``."""
        rows = np.asarray(rows)
        out = np.empty((rows.size, self.box, self.box), dtype=np.float32)
        sids = self.stack_ids[rows]
        for sid in np.unique(sids):
            stack = self._stacks[sid]
            sel = np.flatnonzero(sids == sid)
            idx = self.image_indices[rows[sel]]
            order = np.argsort(idx, kind="stable")
            idx, sel = idx[order], sel[order]
            native = stack.dtype == out.dtype      # float32 in this machine's byte order
            stored = out if native else np.empty((sel.size, self.box, self.box), stack.dtype)
            slots = sel if native else np.arange(sel.size)
            breaks = np.flatnonzero(np.diff(idx) != 1) + 1   # a repeated image starts a new run
            for run in np.split(np.arange(sel.size), breaks):
                for part in range(0, run.size, self._IOV_MAX):
                    piece = run[part:part + self._IOV_MAX]
                    self._read_run(int(sid), int(idx[piece[0]]), [stored[slots[j]] for j in piece])
            if not native:
                out[sel] = stored
        if not np.isfinite(out.sum(dtype=np.float64)):   # a finite float32 sum cannot overflow float64
            raise JobError("a particle image contains NaN or Inf values; check the stacks")
        return out

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class AtomicOutputs:
    """Output files written under temporary names and renamed into place only on success.

    ``tmp(name)`` gives the temporary path for the final file ``out_dir / name``; ``commit()``
    renames them in the order they were requested (so put the file that refers to the others
    last); leaving the ``with`` block through an exception deletes every temporary file.
    """

    def __init__(self, out_dir):
        self.out_dir = Path(out_dir)
        self._pending: Dict[str, Path] = {}
        self._stale: set = set()

    def __enter__(self):
        try:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise JobError(f"cannot create output directory {self.out_dir} ({exc.strerror}); "
                           f"choose another --out") from None
        if not os.access(self.out_dir, os.W_OK):
            raise JobError(f"output directory {self.out_dir} is not writable; choose another --out")
        return self

    def tmp(self, name: str) -> Path:
        path = self.out_dir / f".{name}.partial-{os.getpid()}"
        self._pending[name] = path
        return path

    def final(self, name: str) -> Path:
        return self.out_dir / name

    def remove_on_commit(self, *names: str) -> None:
        """Delete these final files (left by an earlier job in the same directory) at commit,
        so the directory never mixes this job's outputs with stale ones."""
        self._stale.update(n for n in names if n not in self._pending)

    def commit(self) -> List[Path]:
        done = []
        for name, tmp in self._pending.items():
            os.replace(tmp, self.out_dir / name)
            done.append(self.out_dir / name)
        self._pending = {}
        for name in sorted(self._stale):
            try:
                (self.out_dir / name).unlink()
            except FileNotFoundError:
                pass
        self._stale = set()
        return done

    def discard(self) -> None:
        for tmp in self._pending.values():
            try:
                tmp.unlink()
            except FileNotFoundError:
                pass
        self._pending = {}

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            self.discard()
        return False
