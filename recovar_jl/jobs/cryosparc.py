"""cryoSPARC particle files (``.cs``: a NumPy structured array) → the STAR reader's ParticleSet.

Fields (cryoSPARC's units; docs/cli.md "cryoSPARC input"):

* ``blob/path`` (bytes, relative to the project directory; a leading ``>`` marks an
  imported file and is dropped), ``blob/idx`` (0-based image in the stack), ``blob/psize_A``
  (Å/pixel), ``blob/shape`` (box, pixels).
* ``alignments3D/pose``: a rotation vector (axis × angle, radians). Its rotation matrix,
  transposed, is RELION's Euler matrix, i.e. recovar's rotation (the convention cryoDRGN's
  ``parse_pose_csparc`` uses): the rotation vector (0, 0, θ) is RELION's rot = θ, tilt = psi = 0.
* ``alignments3D/shift``: pixels of ``alignments3D/psize_A`` (else of the images), the same
  re-centring shift as RELION's origin: recovar's translation after the pixel-size change.
* ``alignments3D/split``: 0/1 → half sets 1/2.
* CTF: ``ctf/df1_A``, ``df2_A`` (Å), ``df_angle_rad``, ``phase_shift_rad`` (radians),
  ``accel_kv`` (kV), ``cs_mm`` (mm), ``amp_contrast``, ``scale``.

Not read: ``blob/sign`` (as cryoDRGN and pyem, the stacks are taken as stored; use
``--invert-contrast`` if the map comes out inverted, which ``reconstruct`` detects and
reports), ``ctf/bfactor`` and the higher-order aberrations (tilt, trefoil, tetrafoil,
anisotropic magnification).
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from .errors import JobError
from .star import ParticleSet, check_ctf_rows, index_stacks, random_subsets, value_text

_HINT = "give a cryoSPARC particles .cs file (e.g. from a refinement job) with its stacks"
_NEEDED = {
    "blob/path": "where each particle image is", "blob/idx": "where each particle image is",
    "alignments3D/pose": "the particle orientations",
    "ctf/df1_A": "the CTF", "ctf/df2_A": "the CTF", "ctf/df_angle_rad": "the CTF", "ctf/accel_kv": "the CTF",
    "ctf/cs_mm": "the CTF", "ctf/amp_contrast": "the CTF",
}


def rotvec_to_rotation(rotvec) -> np.ndarray:
    """cryoSPARC pose rotation vectors (n, 3), radians → recovar rotations (n, 3, 3)."""
    from scipy.spatial.transform import Rotation

    return np.ascontiguousarray(Rotation.from_rotvec(np.asarray(rotvec, np.float64)).as_matrix().transpose(0, 2, 1))


def rotation_to_rotvec(rotations) -> np.ndarray:
    """Inverse of :func:`rotvec_to_rotation`: (n, 3, 3) → (n, 3) radians."""
    from scipy.spatial.transform import Rotation

    return Rotation.from_matrix(np.asarray(rotations, np.float64).transpose(0, 2, 1)).as_rotvec()


def _load(path: Path) -> np.ndarray:
    if not path.exists():
        raise JobError(f"{path}: no such file; {_HINT}")
    if path.is_dir():
        raise JobError(f"{path} is a directory; {_HINT}")
    try:
        data = np.load(path, allow_pickle=False)
    except Exception as exc:
        raise JobError(f"{path} could not be read as a cryoSPARC .cs file ({type(exc).__name__}: "
                       f"{str(exc).splitlines()[0] if str(exc) else 'no detail'}); {_HINT}") from None
    if not isinstance(data, np.ndarray) or data.dtype.names is None or data.ndim != 1:
        raise JobError(f"{path} is not a cryoSPARC .cs file (not a table of named fields); {_HINT}")
    if data.shape[0] == 0:
        raise JobError(f"{path} has no particles; {_HINT}")
    missing = [f for f in _NEEDED if f not in data.dtype.names]
    if missing:
        why = _NEEDED[missing[0]]
        raise JobError(f"{path} lacks field{'s' if len(missing) > 1 else ''} {', '.join(missing)} ({why}); "
                       f"use the particles .cs of a 3-D refinement (its alignments3D and ctf fields)")
    return data


def _numbers(path: Path, data: np.ndarray, name: str, width: int = 0) -> np.ndarray:
    values = np.asarray(data[name], dtype=np.float64)
    if width and (values.ndim != 2 or values.shape[1] != width):
        raise JobError(f"{path}: field {name} has shape {values.shape[1:]}, expected ({width},); {_HINT}")
    bad = ~np.isfinite(values.reshape(values.shape[0], -1)).all(axis=1)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        shown = ", ".join(value_text(v) for v in np.atleast_1d(values[row]))
        raise JobError(f"{path}: field {name} of particle {row + 1} is not finite ({shown}); "
                       f"fix or remove that particle")
    return values


def _resolve(cs_path: Path, stack: str, project_dir: Optional[Path]) -> Path:
    """``blob/path`` → a file: against --project-dir, else the .cs file's folder, its parent
    (cryoSPARC keeps job folders inside the project), then the current directory."""
    p = Path(stack[1:] if stack.startswith(">") else stack)
    if p.is_absolute():
        return p
    if project_dir is not None:
        return project_dir / p
    candidates = [cs_path.parent / p, cs_path.parent.parent / p, p]
    return next((c for c in candidates if c.exists()), candidates[0])


def read_cs(cs_path, project_dir=None, angpix: Optional[float] = None) -> ParticleSet:
    """Read a cryoSPARC particles ``.cs`` file into the ParticleSet the STAR reader produces.

    ``project_dir``: the directory ``blob/path`` is relative to (default: looked up beside
    the file, see :func:`_resolve`). ``angpix`` (Å) when the file has no ``blob/psize_A``.
    Particles with different pixel sizes are resampled to the first's (see :mod:`.optics`).
    """
    path = Path(cs_path)
    project = None if project_dir is None else Path(project_dir)
    if project is not None and not project.is_dir():
        raise JobError(f"--project-dir {project} is not a directory; give the cryoSPARC project directory "
                       f"(the folder that holds the J* job folders)")
    data = _load(path)
    names = data.dtype.names
    n = data.shape[0]

    if "blob/psize_A" in names:
        pixel = _numbers(path, data, "blob/psize_A")
        if angpix is not None and not np.allclose(pixel, angpix, rtol=1e-4, atol=0):
            raise JobError(f"{path} gives a pixel size of {pixel.min():g} Å (blob/psize_A), --angpix {angpix:g}; "
                           f"--angpix is for files without one, drop it")
    elif angpix is not None:
        pixel = np.full(n, float(angpix))
    else:
        raise JobError(f"{path} lacks blob/psize_A (the pixel size); pass --angpix (Å per pixel of the images)")
    if np.any(pixel <= 0):
        raise JobError(f"{path}: blob/psize_A must be positive, found {pixel.min():g}; fix the file or pass --angpix")
    ref_pixel = float(pixel[0])

    rotations = rotvec_to_rotation(_numbers(path, data, "alignments3D/pose", 3))
    if "alignments3D/shift" in names:
        shift = _numbers(path, data, "alignments3D/shift", 2)
        shift_pixel = _numbers(path, data, "alignments3D/psize_A") if "alignments3D/psize_A" in names else pixel
        translations = shift * (shift_pixel / ref_pixel)[:, None]
    else:
        translations = np.zeros((n, 2))

    def optional(name, default, scale=1.0):
        return _numbers(path, data, name) * scale if name in names else np.full(n, float(default))

    ctf = np.stack([
        _numbers(path, data, "ctf/df1_A"), _numbers(path, data, "ctf/df2_A"),
        np.rad2deg(_numbers(path, data, "ctf/df_angle_rad")), _numbers(path, data, "ctf/accel_kv"),
        _numbers(path, data, "ctf/cs_mm"), _numbers(path, data, "ctf/amp_contrast"),
        optional("ctf/phase_shift_rad", 0.0, 180.0 / np.pi), np.zeros(n), optional("ctf/scale", 1.0),
    ], axis=1)
    check_ctf_rows(path, ctf, ("ctf/accel_kv", "ctf/cs_mm", "ctf/amp_contrast"), "in the .cs file")

    stacks = [raw.decode() if isinstance(raw, bytes) else str(raw) for raw in data["blob/path"].tolist()]
    stack_paths, stack_ids = index_stacks(stacks, lambda stack: _resolve(path, stack, project))
    for stack in stack_paths:
        if not stack.exists():
            raise JobError(f"stack {stack} (blob/path in {path}) does not exist; pass --project-dir, the cryoSPARC "
                           f"project directory blob/path is relative to")
    image_indices = np.asarray(data["blob/idx"], dtype=np.int64)
    if np.any(image_indices < 0):
        row = int(np.flatnonzero(image_indices < 0)[0])
        raise JobError(f"{path}: blob/idx of particle {row + 1} is {image_indices[row]}; cryoSPARC counts from 0")

    box = None
    mixed = not np.allclose(pixel, ref_pixel, rtol=1e-6, atol=0)
    if "blob/shape" in names:
        shapes = np.asarray(data["blob/shape"], dtype=np.int64).reshape(n, -1)
        box = int(shapes[0, -1])
        mixed = mixed or bool(np.any(shapes[:, -1] != box))
    subset = None
    if "alignments3D/split" in names:
        subset = random_subsets(path, _numbers(path, data, "alignments3D/split") + 1, "alignments3D/split (+1)")
    return ParticleSet(star_path=path, stack_paths=stack_paths, stack_ids=stack_ids, image_indices=image_indices,
                       rotations=rotations, translations=translations, ctf_params=ctf, voxel_size=ref_pixel,
                       box=box, random_subset=subset, pixel_sizes=pixel if mixed else None)


def particles_array(stack_names, image_indices, rotations, translations_px, ctf_params, pixel_size, box: int,
                    split=None) -> np.ndarray:
    """A cryoSPARC-style particles table (the fields :func:`read_cs` reads) from recovar
    poses and CTF rows, e.g. to hand simulated particles to cryoSPARC-reading programs."""
    n = len(image_indices)
    fields = [("uid", "<u8"), ("blob/path", "S256"), ("blob/idx", "<u4"), ("blob/shape", "<u4", (2,)),
              ("blob/psize_A", "<f4"), ("alignments3D/split", "<u4"), ("alignments3D/shift", "<f4", (2,)),
              ("alignments3D/pose", "<f4", (3,)), ("alignments3D/psize_A", "<f4"),
              ("ctf/type", "S8"), ("ctf/accel_kv", "<f4"), ("ctf/cs_mm", "<f4"), ("ctf/amp_contrast", "<f4"),
              ("ctf/df1_A", "<f4"), ("ctf/df2_A", "<f4"), ("ctf/df_angle_rad", "<f4"),
              ("ctf/phase_shift_rad", "<f4"), ("ctf/scale", "<f4")]
    out = np.zeros(n, dtype=fields)
    ctf = np.asarray(ctf_params, dtype=np.float64)
    out["uid"] = np.arange(n)
    out["blob/path"] = [str(s).encode() for s in stack_names]
    out["blob/idx"] = image_indices
    out["blob/shape"] = box
    out["blob/psize_A"] = pixel_size
    out["alignments3D/split"] = 0 if split is None else np.asarray(split)
    out["alignments3D/shift"] = translations_px
    out["alignments3D/pose"] = rotation_to_rotvec(rotations)
    out["alignments3D/psize_A"] = pixel_size
    out["ctf/type"] = b"spline"
    out["ctf/df1_A"], out["ctf/df2_A"] = ctf[:, 0], ctf[:, 1]
    out["ctf/df_angle_rad"] = np.deg2rad(ctf[:, 2])
    out["ctf/accel_kv"], out["ctf/cs_mm"], out["ctf/amp_contrast"] = ctf[:, 3], ctf[:, 4], ctf[:, 5]
    out["ctf/phase_shift_rad"] = np.deg2rad(ctf[:, 6])
    out["ctf/scale"] = ctf[:, 8]
    return out


def write_cs(path, particles: np.ndarray) -> None:
    """Write a table from :func:`particles_array` as a ``.cs`` file (NumPy .npy format, no suffix added)."""
    with open(path, "wb") as fh:
        np.save(fh, particles, allow_pickle=False)
