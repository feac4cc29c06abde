"""Checks of the input and the result that ``reconstruct`` reports as warnings on stderr.

Both catch data that reconstructs to self-consistent half maps (so the half-map FSC looks
fine) but to the wrong map:

* negative defocus: RELION and cryoSPARC write underfocus as positive Å; negative values are
  overfocus, which almost never happens in practice and usually means a program with the
  opposite sign convention wrote the file. The CTF then has nearly the opposite sign at most
  frequencies and the map is mostly inverted.
* inverted contrast: a protein map is mostly positive density: positive mean, a voxel
  histogram with a long positive tail (positive skewness) and its strongest voxels positive.
  Images with the opposite contrast (dark particles, e.g. not inverted at extraction, or a
  stack whose sign a program changed) give the negative of the map.
  The check is only made when the half maps agree at low resolution (FSC > 0.5 over the
  first shells), i.e. when there is a map to judge.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

_LOW_SHELLS = slice(1, 4)
_AGREEMENT = 0.5


def defocus_warning(ctf_params: np.ndarray) -> Optional[str]:
    """A one-line warning if some particles have negative (overfocus) defocus, else None."""
    ctf = np.asarray(ctf_params)
    negative = (ctf[:, 0] < 0) | (ctf[:, 1] < 0)
    if not negative.any():
        return None
    mean = 0.5 * (ctf[negative, 0] + ctf[negative, 1])
    return (f"{int(negative.sum())} of {ctf.shape[0]} particles have negative defocus (mean {mean.mean():.0f} Å): "
            f"that is overfocus in RELION's convention (underfocus positive). If the file comes from a program "
            f"that writes underfocus as negative, negate rlnDefocusU/V (or ctf/df1_A, df2_A): with the wrong sign "
            f"the CTF is nearly inverted and the map comes out wrong although the half maps agree")


def density_skewness(volume: np.ndarray) -> float:
    """Skewness of the voxel values (third standardised moment); 0 for a constant volume."""
    v = np.array(volume, dtype=np.float64).ravel()   # a copy: centred in place
    v -= v.mean()
    square = v * v
    sd = np.sqrt(square.mean())
    # Σ v²·v as a dot product: one pass, no float64 power (v ** 3 took seconds at box 256)
    return float(np.dot(square, v) / v.size / sd ** 3) if sd > 0 else 0.0


def contrast_warning(full_map: np.ndarray, half_map_fsc: np.ndarray) -> Optional[str]:
    """A one-line warning if the map looks inverted, else None.

    Three signs of mostly negative density: negative mean, negative skewness, strongest voxel
    negative. An inverted stack shows all three; a wrong-sign defocus (a CTF inverted except
    near zero frequency) shows two, which two depending on the data; a correct map none.
    Two or more give the warning.
    """
    low = np.asarray(half_map_fsc)[_LOW_SHELLS]
    if low.size == 0 or not np.all(low > _AGREEMENT):
        return None
    v = np.asarray(full_map)
    skew, mean = density_skewness(v), float(np.mean(v, dtype=np.float64))
    signs = {"mean": mean < 0, "skewness": skew < 0, "strongest voxel": -v.min() > v.max()}
    if sum(signs.values()) < 2:
        return None
    return (f"the map looks inverted: its density is mostly negative (mean {mean:.3g}, skewness {skew:.2f}, "
            f"strongest voxels {v.min():.3g} and {v.max():.3g}) although the half maps agree at low resolution; the "
            f"images probably have the opposite contrast (dark particles): rerun with --invert-contrast, or check "
            f"the defocus sign")
