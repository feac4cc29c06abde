"""RELION STAR files (3.1+ layout, 3.0 read too) and RELION ↔ recovar pose conventions.

Poses
-----
recovar's rotation matrix ``R`` maps the plane frequency ``(kx, ky, 0)`` of an image to the
3-D frequency ``(kx, ky, 0) @ R`` (docs/conventions.md §5), with volume axis 0 = X when the MRC
volume is read transposed (``data.T``, as recovar does). RELION's Euler matrix
``A(rot, tilt, psi)`` (RELION's ``Euler_angles2matrix``) plays exactly the same role in
RELION's projector, so ``R = A``. docs/conventions.md §13 writes the same matrix as
``from_euler("zxz", [rot + 90°, tilt, psi − 90°]) ∘ [[1,−1,1],[−1,1,−1],[1,−1,1]]``; the tests
check the two agree.

Translations
------------
RELION's ``rlnOriginX/YAngst`` is the shift that re-centres the particle: the particle sits at
``box centre − origin`` in the image. ``geometry.translate_images`` moves content by ``+t``,
so recovar's translation in pixels is ``t = origin / pixel_size`` (applied to the images to
undo the shift), and a simulated particle is the centred projection moved by ``−t``.

CTF
---
recovar's CTF row (docs/conventions.md §8) is ``[DFU, DFV, DFANG, VOLT, CS, W, PHASE_SHIFT, BFACTOR,
CONTRAST]``; RELION's ``rlnCtfBFactor`` is the negative of BFACTOR and ``rlnCtfScalefactor``
is CONTRAST.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional

import numpy as np
import pandas as pd

from .errors import JobError

# Elementwise sign pattern of docs/conventions.md §13.
_FRAME_SIGNS = np.array([[1.0, -1.0, 1.0], [-1.0, 1.0, -1.0], [1.0, -1.0, 1.0]])


# --------------------------------------------------------------------------------------------
# Euler angles and origins
# --------------------------------------------------------------------------------------------
def relion_euler_to_rotation(angles_deg) -> np.ndarray:
    """RELION Euler angles (rot, tilt, psi; degrees, ZYZ) → recovar rotation matrices.

    Parameters
    ----------
    angles_deg : array-like, (n, 3) or (3,)
        ``rlnAngleRot, rlnAngleTilt, rlnAnglePsi`` in degrees.

    Returns
    -------
    (n, 3, 3) float64
        ``R`` with rows = image x axis, image y axis and projection direction in volume
        coordinates (volume axis 0 = X), i.e. RELION's ``Euler_angles2matrix``.
    """
    a = np.atleast_2d(np.asarray(angles_deg, dtype=np.float64))
    if a.ndim != 2 or a.shape[1] != 3:
        raise ValueError(f"angles_deg must have shape (n, 3), got {np.shape(angles_deg)}")
    rot, tilt, psi = np.deg2rad(a).T
    ca, sa = np.cos(rot), np.sin(rot)
    cb, sb = np.cos(tilt), np.sin(tilt)
    cg, sg = np.cos(psi), np.sin(psi)
    R = np.empty((a.shape[0], 3, 3))
    R[:, 0, 0] = cg * cb * ca - sg * sa
    R[:, 0, 1] = cg * cb * sa + sg * ca
    R[:, 0, 2] = -cg * sb
    R[:, 1, 0] = -sg * cb * ca - cg * sa
    R[:, 1, 1] = -sg * cb * sa + cg * ca
    R[:, 1, 2] = sg * sb
    R[:, 2, 0] = sb * ca
    R[:, 2, 1] = sb * sa
    R[:, 2, 2] = cb
    return R


def rotation_to_relion_euler(rotations) -> np.ndarray:
    """Inverse of :func:`relion_euler_to_rotation`: (n, 3, 3) → (n, 3) degrees.

    tilt ∈ [0, 180], rot and psi ∈ (−180, 180]. At tilt 0 or 180 (gimbal lock) rot is 0 and
    psi carries the whole in-plane angle. ``relion_euler_to_rotation`` of the result
    reproduces the input rotation to rounding.
    """
    R = np.asarray(rotations, dtype=np.float64)
    if R.ndim == 2:
        R = R[None]
    if R.ndim != 3 or R.shape[1:] != (3, 3):
        raise ValueError(f"rotations must have shape (n, 3, 3), got {np.shape(rotations)}")
    sin_tilt = np.hypot(R[:, 2, 0], R[:, 2, 1])
    tilt = np.arctan2(sin_tilt, R[:, 2, 2])
    rot = np.where(sin_tilt > 0, np.arctan2(R[:, 2, 1], R[:, 2, 0]), 0.0)
    # psi from the well-conditioned upper-left block given rot (cos psi = A11·cos rot −
    # A10·sin rot, sin psi = A01·cos rot − A00·sin rot): stays exact when sin(tilt) → 0,
    # where rot alone is ill-defined and psi absorbs its error.
    ca, sa = np.cos(rot), np.sin(rot)
    psi = np.arctan2(R[:, 0, 1] * ca - R[:, 0, 0] * sa, R[:, 1, 1] * ca - R[:, 1, 0] * sa)
    out = np.rad2deg(np.stack([rot, tilt, psi], axis=1))
    # Map −180 to +180 so the range is (−180, 180].
    out[:, [0, 2]] = np.where(out[:, [0, 2]] <= -180.0, out[:, [0, 2]] + 360.0, out[:, [0, 2]])
    return out


def origins_to_translations(origins_angstrom, pixel_size) -> np.ndarray:
    """RELION ``rlnOriginX/YAngst`` (Å) → recovar translations (pixels, re-centring shift)."""
    return np.asarray(origins_angstrom, dtype=np.float64) / np.asarray(pixel_size, dtype=np.float64)[..., None]


def translations_to_origins(translations_px, pixel_size) -> np.ndarray:
    """recovar translations (pixels) → RELION ``rlnOriginX/YAngst`` (Å)."""
    return np.asarray(translations_px, dtype=np.float64) * np.asarray(pixel_size, dtype=np.float64)[..., None]


# --------------------------------------------------------------------------------------------
# Particle tables
# --------------------------------------------------------------------------------------------
@dataclass
class ParticleSet:
    """Everything reconstruction needs from a particles STAR file.

    ``stack_paths[stack_ids[i]]`` holds particle i at 0-based position ``image_indices[i]``.
    """

    star_path: Path
    stack_paths: List[Path]
    stack_ids: np.ndarray          # (n,) int64
    image_indices: np.ndarray      # (n,) int64, 0-based
    rotations: np.ndarray          # (n, 3, 3) float64, recovar convention
    translations: np.ndarray       # (n, 2) float64, pixels, recovar convention
    ctf_params: np.ndarray         # (n, 9) float64, docs/conventions.md §8 layout
    voxel_size: float              # Å per pixel
    box: Optional[int]             # rlnImageSize if given
    random_subset: Optional[np.ndarray] = field(default=None)  # (n,) in {1, 2} if given

    def __len__(self) -> int:
        return int(self.stack_ids.shape[0])


_HINT_STAR = ("give a RELION particles .star file (data_optics + data_particles, as written by "
              "RELION >= 3.1 or 'recovar-jl simulate')")


def _read_blocks(path: Path) -> dict:
    import starfile

    if not path.exists():
        raise JobError(f"{path}: no such file; {_HINT_STAR}")
    if path.is_dir():
        raise JobError(f"{path} is a directory; {_HINT_STAR}")
    try:
        blocks = starfile.read(path, always_dict=True)
    except Exception as exc:  # starfile/pandas raise many types on garbage
        raise JobError(f"{path} could not be read as a STAR file ({type(exc).__name__}: "
                       f"{str(exc).splitlines()[0] if str(exc) else 'no detail'}); {_HINT_STAR}") from None
    blocks = {k: v for k, v in blocks.items() if isinstance(v, pd.DataFrame) and len(v.columns) > 0}
    if not blocks:
        raise JobError(f"{path} is not a STAR file (no data_ block with a table found); {_HINT_STAR}")
    return blocks


def _particles_table(path: Path, blocks: dict) -> pd.DataFrame:
    if "particles" in blocks:
        return blocks["particles"]
    with_names = [v for v in blocks.values() if "rlnImageName" in v.columns]
    if len(with_names) == 1:
        return with_names[0]  # RELION 3.0: one unnamed table
    raise JobError(f"{path} has no data_particles table (blocks: {', '.join(blocks) or 'none'}); {_HINT_STAR}")


def _require(path: Path, table: pd.DataFrame, columns, why: str):
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise JobError(f"{path} lacks column{'s' if len(missing) > 1 else ''} "
                       f"{', '.join('_' + c for c in missing)} ({why}); add "
                       f"{'them' if len(missing) > 1 else 'it'} or export the particles from RELION >= 3.1")


def _numeric(path: Path, table: pd.DataFrame, column: str) -> np.ndarray:
    values = pd.to_numeric(table[column], errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise JobError(f"{path}: column _{column} has a non-numeric or missing value at particle "
                       f"{row + 1} ({table[column].iloc[row]!r}); fix or remove that row")
    return values


def _merge_optics(path: Path, particles: pd.DataFrame, blocks: dict) -> pd.DataFrame:
    optics = blocks.get("optics")
    if optics is None:
        return particles
    if "rlnOpticsGroup" not in optics.columns:
        raise JobError(f"{path}: the data_optics table lacks _rlnOpticsGroup; {_HINT_STAR}")
    if "rlnOpticsGroup" not in particles.columns:
        if len(optics) != 1:
            raise JobError(f"{path}: data_particles lacks _rlnOpticsGroup but data_optics has "
                           f"{len(optics)} groups; add _rlnOpticsGroup to the particles")
        particles = particles.assign(rlnOpticsGroup=optics["rlnOpticsGroup"].iloc[0])
    known = set(pd.to_numeric(optics["rlnOpticsGroup"], errors="coerce").tolist())
    groups = pd.to_numeric(particles["rlnOpticsGroup"], errors="coerce")
    unknown = sorted(set(groups.tolist()) - known)
    if unknown:
        raise JobError(f"{path}: particles refer to optics group {unknown[0]} which data_optics does "
                       f"not define; add it to data_optics")
    extra = [c for c in optics.columns if c != "rlnOpticsGroup" and c not in particles.columns]
    table = optics[["rlnOpticsGroup"] + extra].copy()
    table["rlnOpticsGroup"] = pd.to_numeric(table["rlnOpticsGroup"], errors="coerce")
    merged = particles.assign(rlnOpticsGroup=groups).merge(table, on="rlnOpticsGroup", how="left", sort=False)
    return merged


def _pixel_size(path: Path, table: pd.DataFrame) -> np.ndarray:
    if "rlnImagePixelSize" in table.columns:
        return _numeric(path, table, "rlnImagePixelSize")
    if "rlnDetectorPixelSize" in table.columns and "rlnMagnification" in table.columns:
        return _numeric(path, table, "rlnDetectorPixelSize") * 1e4 / _numeric(path, table, "rlnMagnification")
    raise JobError(f"{path} lacks column _rlnImagePixelSize (needed for the pixel size in Å); add it "
                   f"to data_optics or export the particles from RELION >= 3.1")


def _parse_image_name(path: Path, row: int, name: str):
    name = str(name).strip()
    if "@" in name:
        index_text, stack = name.split("@", 1)
        try:
            index = int(index_text)
        except ValueError:
            raise JobError(f"{path}: particle {row + 1} has image name {name!r}, expected "
                           f"'<number>@<stack.mrcs>'; fix _rlnImageName") from None
        if index < 1:
            raise JobError(f"{path}: particle {row + 1} has image index {index} in {name!r}; "
                           f"RELION counts images from 1, fix _rlnImageName")
        return index - 1, stack
    return 0, name


def resolve_stack(star_path: Path, stack: str) -> Path:
    """A stack named in a STAR file: relative to the STAR file's directory, else to the cwd."""
    p = Path(stack)
    if p.is_absolute():
        return p
    beside = star_path.parent / p
    if beside.exists() or not p.exists():
        return beside
    return p


def read_particles(star_path) -> ParticleSet:
    """Read a RELION particles STAR file (3.1+ with data_optics, or 3.0) into a ParticleSet.

    Raises JobError (one line: what is wrong, what to do) for a missing file, a file that is
    not STAR, missing columns, unknown optics groups, non-numeric values or mixed pixel sizes.
    Stacks are not opened here (see ``reconstruct.StackReader``).
    """
    path = Path(star_path)
    blocks = _read_blocks(path)
    particles = _particles_table(path, blocks)
    if len(particles) == 0:
        raise JobError(f"{path}: data_particles has no rows; give a STAR file with particles")
    table = _merge_optics(path, particles, blocks)

    _require(path, table, ["rlnImageName"], "where each particle image is")
    _require(path, table, ["rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi"], "the particle orientations")
    _require(path, table, ["rlnDefocusU", "rlnDefocusV", "rlnDefocusAngle"], "the CTF")
    _require(path, table, ["rlnVoltage", "rlnSphericalAberration", "rlnAmplitudeContrast"], "the CTF")

    pixel = _pixel_size(path, table)
    if np.any(pixel <= 0):
        raise JobError(f"{path}: pixel size must be positive, found {pixel.min():g} Å; fix _rlnImagePixelSize")
    if not np.allclose(pixel, pixel[0], rtol=1e-6, atol=0):
        raise JobError(f"{path}: particles have different pixel sizes ({pixel.min():g} to {pixel.max():g} Å); "
                       f"reconstruct one optics group at a time")
    box = None
    if "rlnImageSize" in table.columns:
        sizes = _numeric(path, table, "rlnImageSize").astype(np.int64)
        if np.any(sizes != sizes[0]):
            raise JobError(f"{path}: particles have different box sizes ({sizes.min()} to {sizes.max()} "
                           f"pixels, _rlnImageSize); reconstruct one optics group at a time")
        box = int(sizes[0])

    angles = np.stack([_numeric(path, table, c) for c in ("rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi")], axis=1)
    if "rlnOriginXAngst" in table.columns or "rlnOriginYAngst" in table.columns:
        _require(path, table, ["rlnOriginXAngst", "rlnOriginYAngst"], "the particle origins")
        origins = np.stack([_numeric(path, table, "rlnOriginXAngst"), _numeric(path, table, "rlnOriginYAngst")], axis=1)
        translations = origins_to_translations(origins, pixel)
    elif "rlnOriginX" in table.columns or "rlnOriginY" in table.columns:
        _require(path, table, ["rlnOriginX", "rlnOriginY"], "the particle origins")
        translations = np.stack([_numeric(path, table, "rlnOriginX"), _numeric(path, table, "rlnOriginY")], axis=1)
    else:
        translations = np.zeros((len(table), 2))

    n = len(table)

    def optional(column, default):
        return _numeric(path, table, column) if column in table.columns else np.full(n, float(default))

    ctf = np.stack([
        _numeric(path, table, "rlnDefocusU"), _numeric(path, table, "rlnDefocusV"),
        _numeric(path, table, "rlnDefocusAngle"), _numeric(path, table, "rlnVoltage"),
        _numeric(path, table, "rlnSphericalAberration"), _numeric(path, table, "rlnAmplitudeContrast"),
        optional("rlnPhaseShift", 0.0), -optional("rlnCtfBFactor", 0.0), optional("rlnCtfScalefactor", 1.0),
    ], axis=1)

    for col, column, ok, rule in (
            (3, "rlnVoltage", ctf[:, 3] > 0, "positive (kV)"),
            (5, "rlnAmplitudeContrast", (ctf[:, 5] >= 0) & (ctf[:, 5] < 1), "in [0, 1)"),
            (4, "rlnSphericalAberration", ctf[:, 4] >= 0, "non-negative (mm)")):
        if not np.all(ok):
            row = int(np.flatnonzero(~ok)[0])
            raise JobError(f"{path}: _{column} must be {rule}, particle {row + 1} has {ctf[row, col]:g}; fix it "
                           f"in data_optics")

    stack_of_name = {}
    stack_paths: List[Path] = []
    stack_ids = np.empty(n, dtype=np.int64)
    image_indices = np.empty(n, dtype=np.int64)
    for row, name in enumerate(table["rlnImageName"].tolist()):
        index, stack = _parse_image_name(path, row, name)
        sid = stack_of_name.get(stack)
        if sid is None:
            sid = stack_of_name[stack] = len(stack_paths)
            stack_paths.append(resolve_stack(path, stack))
        stack_ids[row] = sid
        image_indices[row] = index

    subset = None
    if "rlnRandomSubset" in table.columns:
        values = pd.to_numeric(table["rlnRandomSubset"], errors="coerce").to_numpy()
        if np.all(np.isin(values, (1, 2))) and np.any(values == 1) and np.any(values == 2):
            subset = values.astype(np.int64)

    return ParticleSet(star_path=path, stack_paths=stack_paths, stack_ids=stack_ids,
                       image_indices=image_indices, rotations=relion_euler_to_rotation(angles),
                       translations=translations, ctf_params=ctf, voxel_size=float(pixel[0]),
                       box=box, random_subset=subset)


def particles_tables(image_names, rotations, translations_px, ctf_params, voxel_size: float, box: int) -> dict:
    """The ``{"optics": …, "particles": …}`` tables of a RELION 3.1+ particles STAR file.

    One optics group (voltage, Cs and amplitude contrast of the first CTF row; they must be
    the same for all particles). ``translations_px`` are recovar translations (pixels).
    """
    ctf = np.asarray(ctf_params, dtype=np.float64)
    for col, label in ((3, "voltage"), (4, "spherical aberration"), (5, "amplitude contrast")):
        if not np.all(ctf[:, col] == ctf[0, col]):
            raise ValueError(f"ctf_params: {label} differs between particles; one optics group needs one value")
    optics = pd.DataFrame({
        "rlnOpticsGroup": [1],
        "rlnOpticsGroupName": ["opticsGroup1"],
        "rlnVoltage": [float(ctf[0, 3])],
        "rlnSphericalAberration": [float(ctf[0, 4])],
        "rlnAmplitudeContrast": [float(ctf[0, 5])],
        "rlnImagePixelSize": [float(voxel_size)],
        "rlnImageSize": [int(box)],
        "rlnImageDimensionality": [2],
    })
    angles = rotation_to_relion_euler(rotations)
    origins = translations_to_origins(translations_px, np.full(len(ctf), float(voxel_size)))
    particles = pd.DataFrame({
        "rlnImageName": list(image_names),
        "rlnAngleRot": angles[:, 0],
        "rlnAngleTilt": angles[:, 1],
        "rlnAnglePsi": angles[:, 2],
        "rlnOriginXAngst": origins[:, 0],
        "rlnOriginYAngst": origins[:, 1],
        "rlnDefocusU": ctf[:, 0],
        "rlnDefocusV": ctf[:, 1],
        "rlnDefocusAngle": ctf[:, 2],
        "rlnPhaseShift": ctf[:, 6],
        "rlnCtfBFactor": -ctf[:, 7] + 0.0,
        "rlnCtfScalefactor": ctf[:, 8],
        "rlnOpticsGroup": np.ones(len(ctf), dtype=np.int64),
    })
    return {"optics": optics, "particles": particles}


def write_star(path, tables: dict) -> None:
    """Write STAR tables to ``path`` (overwrites)."""
    import starfile

    starfile.write(tables, Path(path), float_format="%.6f")


def stack_image_names(stack_name: str, n: int) -> List[str]:
    """``["000001@stack_name", …]`` for an n-image stack (RELION numbering from 1)."""
    width = max(6, len(str(n)))
    return [f"{i:0{width}d}@{stack_name}" for i in range(1, n + 1)]
