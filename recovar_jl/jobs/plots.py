"""PNG figures: the FSC curve and central slices. Uses matplotlib's Agg canvas directly
(no pyplot), so nothing touches the caller's matplotlib backend.

matplotlib is imported with this module, on purpose: once libjulia is in the process, a C++
exception thrown while matplotlib's font module first loads aborts the process (Julia 1.5's
libunwind takes over the unwinding symbols), so the jobs import this before Julia starts.
"""
from __future__ import annotations

from typing import Dict, Optional, Sequence, Tuple

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def _figure(width: float, height: float):
    fig = Figure(figsize=(width, height), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path) -> None:
    # The target may be a temporary name without a .png suffix: say the format.
    fig.savefig(str(path), format="png")


def fsc_plot(path, frequencies: np.ndarray, curves: Dict[str, np.ndarray],
             thresholds: Sequence[Tuple[float, str, Optional[float]]], title: str = "") -> None:
    """FSC curves against spatial frequency (1/Å), with threshold lines.

    ``thresholds``: ``(value, label, crossing frequency or None)``; each draws a horizontal
    line at ``value``, a vertical line at the crossing, and names the resolution (Å) in the legend.
    """
    fig = _figure(6.4, 4.2)
    ax = fig.add_subplot(1, 1, 1)
    styles = ["-", "--", "-.", ":"]
    for i, (label, curve) in enumerate(curves.items()):
        ax.plot(frequencies, curve, styles[i % len(styles)], lw=1.8, label=label)
    colors = ["tab:red", "tab:purple", "tab:green"]
    for j, (value, label, crossing) in enumerate(thresholds):
        color = colors[j % len(colors)]
        where = f"{1.0 / crossing:.2f} Å" if crossing is not None else "beyond Nyquist"
        ax.axhline(value, color=color, lw=0.9, ls=":", label=f"{label}: {where}")
        if crossing is not None:
            ax.axvline(crossing, color=color, lw=0.9, ls="--")
    ax.set_xlim(0, frequencies[-1])
    ax.set_ylim(-0.1, 1.05)
    ax.set_xlabel("spatial frequency (1/Å)")
    ax.set_ylabel("Fourier shell correlation")
    _finish_with_resolution_axis(fig, ax, path, frequencies[-1], lambda t: 1.0 / t, title)


def slices_plot(path, volumes: Dict[str, np.ndarray], voxel_size: Optional[float] = None) -> None:
    """Central slices of each volume ``[x, y, z]``: one row per volume, columns XY, XZ, YZ."""
    rows = len(volumes)
    fig = _figure(8.4, 3.0 * rows + 0.4)
    for r, (label, vol) in enumerate(volumes.items()):
        vol = np.asarray(vol)     # no float64 copy of the volume: only its planes are drawn
        c = [s // 2 for s in vol.shape]
        planes = (("XY (z = centre)", vol[:, :, c[2]].T), ("XZ (y = centre)", vol[:, c[1], :].T),
                  ("YZ (x = centre)", vol[c[0], :, :].T))
        planes = [(name, np.asarray(img, dtype=np.float64)) for name, img in planes]
        lo, hi = (float(v) for v in np.percentile(vol, [0.5, 99.9]))
        for col, (name, img) in enumerate(planes):
            ax = fig.add_subplot(rows, 3, r * 3 + col + 1)
            ax.imshow(img, origin="lower", cmap="gray", vmin=lo, vmax=hi, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"{label}: {name}", fontsize=9)
    if voxel_size:
        fig.suptitle(f"central slices ({vol.shape[0]}³ voxels, {voxel_size:.3g} Å/voxel)", fontsize=10)
    _save(fig, path)


def guinier_plot(path, s2: np.ndarray, curves: Dict[str, np.ndarray], fit: Optional[Tuple[float, float, float, float]] = None,
                 title: str = "") -> None:
    """Guinier plot: ln mean |F| per shell against s² (1/Å²).

    ``fit``: ``(B, intercept, s²_min, s²_max)`` draws the fitted line ln|F| = intercept + B s²/4
    over the fitted range.
    """
    fig = _figure(6.4, 4.2)
    ax = fig.add_subplot(1, 1, 1)
    for label, values in curves.items():
        finite = np.isfinite(values)
        ax.plot(s2[finite], values[finite], lw=1.6, label=label)
    if fit is not None:
        b, intercept, lo, hi = fit
        x = np.array([lo, hi])
        ax.plot(x, intercept + b * x / 4.0, "k--", lw=1.2, label=f"fit: B = {b:.1f} Å²")
        ax.axvspan(lo, hi, color="0.9", zorder=0)
    ax.set_xlabel("s² (1/Å²)")
    ax.set_ylabel("ln mean |F|")
    _finish_with_resolution_axis(fig, ax, path, s2[-1], lambda t: 1.0 / np.sqrt(t), title)


def _finish_with_resolution_axis(fig, ax, path, x_max: float, resolution, title: str) -> None:
    """Top axis in Å (``resolution(x)`` at the bottom axis' ticks), grid, legend, title; save."""
    top = ax.secondary_xaxis("top", functions=(lambda v: v, lambda v: v))
    ticks = ax.get_xticks()
    ticks = ticks[(ticks > 0) & (ticks <= x_max)]
    top.set_xticks(ticks)
    top.set_xticklabels([f"{resolution(t):.1f}" for t in ticks])
    top.set_xlabel("resolution (Å)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    _save(fig, path)
