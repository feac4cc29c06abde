"""RELION STAR files (3.1+ layout, 3.0 read too) and RELION ↔ recovar pose conventions.

Poses
-----
recovar's rotation matrix ``R`` maps the plane frequency ``(kx, ky, 0)`` of an image to the
3-D frequency ``(kx, ky, 0) @ R`` (conventions.md §6), with volume axis 0 = X when the MRC
volume is read transposed (``data.T``, as recovar does). RELION's Euler matrix
``A(rot, tilt, psi)`` (RELION's ``Euler_angles2matrix``) plays exactly the same role in
RELION's projector, so ``R = A``. conventions.md §9 writes the same matrix as
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
recovar's CTF row (ctf.md §1) is ``[DFU, DFV, DFANG, VOLT, CS, W, PHASE_SHIFT, BFACTOR,
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

# Elementwise sign pattern of conventions.md §9.
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
    ctf_params: np.ndarray         # (n, 9) float64, ctf.md §1 layout
    voxel_size: float              # Å per pixel of the reconstruction (the first optics group's)
    box: Optional[int]             # rlnImageSize of the first optics group if given
    random_subset: Optional[np.ndarray] = field(default=None)  # (n,) in {1, 2} if given
    # Per particle, only when the optics groups differ: Å per pixel of the stored images
    # (translations above are already in pixels of voxel_size) and the optics group.
    pixel_sizes: Optional[np.ndarray] = field(default=None)    # (n,) float64
    optics_groups: Optional[np.ndarray] = field(default=None)  # (n,) int64
    reference_row: int = 0         # a particle of the first optics group: its stack sets the box

    def __len__(self) -> int:
        return int(self.stack_ids.shape[0])

    def select(self, rows: np.ndarray) -> "ParticleSet":
        """The particles ``rows`` (indices, in that order), without their half-set labels."""
        rows = np.asarray(rows, dtype=np.int64)
        pick = (lambda a: None if a is None else a[rows])
        ref = np.flatnonzero(rows == self.reference_row)
        return ParticleSet(star_path=self.star_path, stack_paths=self.stack_paths, stack_ids=self.stack_ids[rows],
                           image_indices=self.image_indices[rows], rotations=self.rotations[rows],
                           translations=self.translations[rows], ctf_params=self.ctf_params[rows],
                           voxel_size=self.voxel_size, box=self.box, random_subset=None,
                           pixel_sizes=pick(self.pixel_sizes), optics_groups=pick(self.optics_groups),
                           reference_row=int(ref[0]) if ref.size else 0)


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


def value_text(value) -> str:
    """A table value for a message: ``nan``, ``3``, ``'abc'`` (never ``np.float64(nan)``)."""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, float, np.integer, np.floating)):
        return f"{float(value):g}" if isinstance(value, (float, np.floating)) else str(int(value))
    return repr(str(value))


def _numeric(path: Path, table: pd.DataFrame, column: str) -> np.ndarray:
    values = pd.to_numeric(table[column], errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise JobError(f"{path}: column _{column} has a non-numeric or missing value at particle "
                       f"{row + 1} ({value_text(table[column].iloc[row])}); fix or remove that row")
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


def _pixel_size(path: Path, table: pd.DataFrame, angpix: Optional[float]) -> np.ndarray:
    if "rlnImagePixelSize" in table.columns:
        pixel = _numeric(path, table, "rlnImagePixelSize")
    elif "rlnDetectorPixelSize" in table.columns and "rlnMagnification" in table.columns:
        pixel = _numeric(path, table, "rlnDetectorPixelSize") * 1e4 / _numeric(path, table, "rlnMagnification")
    elif angpix is not None:
        return np.full(len(table), float(angpix))
    else:
        raise JobError(f"{path} has no pixel size: it lacks _rlnImagePixelSize (RELION >= 3.1) and "
                       f"_rlnDetectorPixelSize (µm) with _rlnMagnification (RELION 3.0); pass --angpix "
                       f"(Å per pixel of the images) or add the column")
    if angpix is not None and not np.allclose(pixel, angpix, rtol=1e-4, atol=0):
        raise JobError(f"{path} gives a pixel size of {pixel.min():g} Å, --angpix {angpix:g}; --angpix is for "
                       f"files without pixel-size columns, drop it or fix the file")
    return pixel


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


def _reference_row(blocks: dict, table: pd.DataFrame) -> int:
    """A particle of the first optics group listed in data_optics (RELION 3.0: the first particle)."""
    optics = blocks.get("optics")
    if optics is None or "rlnOpticsGroup" not in table.columns:
        return 0
    groups = table["rlnOpticsGroup"].to_numpy()
    for group in pd.to_numeric(optics["rlnOpticsGroup"], errors="coerce").tolist():
        rows = np.flatnonzero(groups == group)
        if rows.size:
            return int(rows[0])
    return 0


def random_subsets(path, values, what: str = "_rlnRandomSubset") -> np.ndarray:
    """Validated half-set numbers (n,) in {1, 2}, both present; JobError naming the first bad particle."""
    values = np.asarray(values, dtype=np.float64)
    bad = ~np.isin(values, (1.0, 2.0))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        found = ", ".join(value_text(v) for v in np.unique(values[np.isfinite(values)])[:6])
        raise JobError(f"{path}: {what} must be 1 or 2 for every particle, particle {row + 1} has "
                       f"{value_text(values[row])} (values found: {found or 'none'}); fix the column, or delete it "
                       f"to split the particles at random (--seed)")
    for half in (1, 2):
        if not np.any(values == half):
            raise JobError(f"{path}: {what} puts every particle in half set {3 - half}; the FSC needs both "
                           f"halves, delete the column to split the particles at random (--seed)")
    return values.astype(np.int64)


def check_ctf_rows(path, ctf: np.ndarray, names, where: str) -> None:
    """JobError for the first particle whose voltage, Cs or amplitude contrast is impossible.

    ``names``: how the file calls those three columns (voltage, Cs, amplitude contrast).
    """
    for col, column, ok, rule in (
            (3, names[0], ctf[:, 3] > 0, "positive (kV)"),
            (5, names[2], (ctf[:, 5] >= 0) & (ctf[:, 5] < 1), "in [0, 1)"),
            (4, names[1], ctf[:, 4] >= 0, "non-negative (mm)")):
        if not np.all(ok):
            row = int(np.flatnonzero(~ok)[0])
            raise JobError(f"{path}: {column} must be {rule}, particle {row + 1} has {ctf[row, col]:g}; fix it {where}")


def index_stacks(names, resolve):
    """Stack names per particle → (unique stack paths in order of appearance, (n,) int64 ids)."""
    stack_of_name = {}
    stack_paths: List[Path] = []
    stack_ids = np.empty(len(names), dtype=np.int64)
    for row, name in enumerate(names):
        sid = stack_of_name.get(name)
        if sid is None:
            sid = stack_of_name[name] = len(stack_paths)
            stack_paths.append(resolve(name))
        stack_ids[row] = sid
    return stack_paths, stack_ids


def read_particles(star_path, angpix: Optional[float] = None) -> ParticleSet:
    """Read a RELION particles STAR file (3.1+ with data_optics, or 3.0) into a ParticleSet.

    Several optics groups may have different pixel sizes and boxes: ``voxel_size`` is the
    first group's, translations are in its pixels, and ``pixel_sizes`` records each
    particle's (the reader resamples the images, see :mod:`.optics`). ``angpix`` (Å) is the
    pixel size of files without one (RELION 3.0 without detector pixel size/magnification).
    Raises JobError (one line: what is wrong, what to do) for a missing file, a file that is
    not STAR, missing columns, unknown optics groups, non-numeric values or a bad
    _rlnRandomSubset. Stacks are not opened here (see ``mrc.StackReader``).
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

    pixel = _pixel_size(path, table, angpix)
    if np.any(pixel <= 0):
        raise JobError(f"{path}: pixel size must be positive, found {pixel.min():g} Å; fix _rlnImagePixelSize")
    ref = _reference_row(blocks, table)
    box = None
    mixed = not np.allclose(pixel, pixel[ref], rtol=1e-6, atol=0)
    if "rlnImageSize" in table.columns:
        sizes = _numeric(path, table, "rlnImageSize").astype(np.int64)
        mixed = mixed or bool(np.any(sizes != sizes[ref]))
        box = int(sizes[ref])

    angles = np.stack([_numeric(path, table, c) for c in ("rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi")], axis=1)
    if "rlnOriginXAngst" in table.columns or "rlnOriginYAngst" in table.columns:
        _require(path, table, ["rlnOriginXAngst", "rlnOriginYAngst"], "the particle origins")
        origins = np.stack([_numeric(path, table, "rlnOriginXAngst"), _numeric(path, table, "rlnOriginYAngst")], axis=1)
        translations = origins_to_translations(origins, np.full(len(table), pixel[ref]))
    elif "rlnOriginX" in table.columns or "rlnOriginY" in table.columns:
        _require(path, table, ["rlnOriginX", "rlnOriginY"], "the particle origins")
        translations = np.stack([_numeric(path, table, "rlnOriginX"), _numeric(path, table, "rlnOriginY")], axis=1)
        translations *= (pixel / pixel[ref])[:, None]  # each group's pixels → the first group's
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

    check_ctf_rows(path, ctf, ("_rlnVoltage", "_rlnSphericalAberration", "_rlnAmplitudeContrast"), "in data_optics")

    parsed = [_parse_image_name(path, row, name) for row, name in enumerate(table["rlnImageName"].tolist())]
    image_indices = np.array([index for index, _ in parsed], dtype=np.int64).reshape(n)
    stack_paths, stack_ids = index_stacks([stack for _, stack in parsed], lambda stack: resolve_stack(path, stack))

    subset = None
    if "rlnRandomSubset" in table.columns:
        subset = random_subsets(path, pd.to_numeric(table["rlnRandomSubset"], errors="coerce").to_numpy())
    groups = None
    if mixed and "rlnOpticsGroup" in table.columns:
        groups = pd.to_numeric(table["rlnOpticsGroup"], errors="coerce").to_numpy().astype(np.int64)

    return ParticleSet(star_path=path, stack_paths=stack_paths, stack_ids=stack_ids,
                       image_indices=image_indices, rotations=relion_euler_to_rotation(angles),
                       translations=translations, ctf_params=ctf, voxel_size=float(pixel[ref]),
                       box=box, random_subset=subset, pixel_sizes=pixel if mixed else None,
                       optics_groups=groups, reference_row=ref)


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
