"""A deterministic synthetic molecule made of Gaussian atoms (no download).

Four globular domains of different sizes, each a random-walk chain of atoms 1.5 voxels
apart (roughly a Cα trace at 2.5 Å per voxel), with a few heavy atoms; everything within
0.36 of the box from the centre so that shifts and CTF delocalisation stay in the box.
The same arguments always give the same array (NumPy's PCG64 stream).

Cost: about 0.02·box³ atoms (2.7 million at box 512). The walk runs in plain Python floats
with a spatial hash for the separation test; the volume is built by splatting each atom into
its 7³ window, a few x-planes at a time, so memory is the float32 volume plus a few planes:
``4·box³ + 160·box²`` bytes and the atom list (:func:`estimated_peak_bytes`).
"""
from __future__ import annotations

import math

import numpy as np

# Domain centres (fractions of the box from its centre) and radii (fractions of the box):
# deliberately asymmetric so that a wrong hand or axis order shows in the slices.
_DOMAINS = (
    ((-0.10, -0.08, 0.02), 0.16, 0.40),
    ((0.13, -0.05, -0.06), 0.12, 0.25),
    ((0.00, 0.15, 0.08), 0.11, 0.22),
    ((0.06, 0.02, -0.19), 0.08, 0.13),
)
_STEP = 1.5          # voxels between consecutive chain atoms
_MIN_SEPARATION = 1.1  # voxels; keeps chains from collapsing onto themselves
_RECENT = 59         # a candidate is tested against this many atoms before the last one
_ATTEMPTS = 50
_SQRT3 = math.sqrt(3.0)
_SLAB = 4            # x-planes of atoms splatted together
_BATCH = 8192        # atoms per splat batch (batch arrays: 343 entries per atom)


class _Normals:
    """Standard normals in the order ``rng.normal(size=3)`` calls would give them, drawn in
    blocks from a copy of ``rng``; :meth:`settle` advances ``rng`` past exactly those used,
    so the later draws from ``rng`` are the same as with one call per atom."""

    def __init__(self, rng: np.random.Generator, block: int = 3 * 8192):
        copy = type(rng.bit_generator)()
        copy.state = rng.bit_generator.state
        self._source = np.random.Generator(copy)
        self._rng = rng
        self._block = block
        self.used = 0

    def take(self) -> list:
        """The next block (a multiple of 3 values)."""
        self.used += self._block
        return self._source.standard_normal(self._block).tolist()

    def settle(self, unused: int) -> None:
        """Advance ``rng`` past the values handed out, except the last ``unused`` of them."""
        count = self.used - unused
        for start in range(0, count, self._block):
            self._rng.standard_normal(min(self._block, count - start))
        self.used = 0


# Spatial hash of the recent chain atoms: integer cells of _CELL voxels, packed into one int.
# A cube of side 2·_REACH < _CELL around a candidate meets at most two cells per axis.
_REACH = _MIN_SEPARATION + 1e-9   # rounding margin: never miss a neighbour
_CELL = 2.25
_KEY = 1 << 21
_SHIFT = float(1 << 20)           # keeps cell coordinates positive, so int() is floor()


def _key(x: float, y: float, z: float) -> int:
    return (int(x / _CELL + _SHIFT) * _KEY + int(y / _CELL + _SHIFT)) * _KEY + int(z / _CELL + _SHIFT)


def _chain(center, radius: float, n: int, normals: _Normals):
    """One domain's persistent random walk of n atoms inside the ball (center, radius).

    A candidate step is refused if it leaves the ball (the direction then turns back to the
    centre) or comes closer than _MIN_SEPARATION to one of the _RECENT atoms before the last;
    after _ATTEMPTS refusals the last candidate is kept. Returns (positions (n, 3), unused
    normals of the last block).
    """
    sqrt = math.sqrt
    step, sqrt3, recent, attempts, min_sep, reach = _STEP, _SQRT3, _RECENT, _ATTEMPTS, _MIN_SEPARATION, _REACH
    cx, cy, cz = center
    g = normals.take()
    xs = [cx + g[0] * 0.3 * radius]
    ys = [cy + g[1] * 0.3 * radius]
    zs = [cz + g[2] * 0.3 * radius]
    dx, dy, dz = g[3], g[4], g[5]
    p, size = 6, len(g)
    keys = [_key(xs[0], ys[0], zs[0])]   # each atom's cell
    cells = {keys[0]: [0]}
    get = cells.get
    near = (0, 1, _KEY, _KEY + 1, _KEY * _KEY, _KEY * _KEY + 1, _KEY * _KEY + _KEY, _KEY * _KEY + _KEY + 1)
    count = 1
    while count < n:
        first, last = max(0, count - 1 - recent), count - 2
        lx, ly, lz = xs[-1], ys[-1], zs[-1]
        for _attempt in range(attempts):
            if p + 6 > size:   # a direction update may use two triples of normals
                g = g[p:] + normals.take()
                p, size = 0, len(g)
            # Persistent random walk: keep some memory of the previous direction.
            norm = sqrt(dx * dx + dy * dy + dz * dz)
            dx = 0.55 * dx / norm + g[p] / sqrt3
            dy = 0.55 * dy / norm + g[p + 1] / sqrt3
            dz = 0.55 * dz / norm + g[p + 2] / sqrt3
            p += 3
            norm = sqrt(dx * dx + dy * dy + dz * dz)
            px, py, pz = lx + step * dx / norm, ly + step * dy / norm, lz + step * dz / norm
            ex, ey, ez = px - cx, py - cy, pz - cz
            if sqrt(ex * ex + ey * ey + ez * ez) > radius:
                dx, dy, dz = (cx - lx) + g[p], (cy - ly) + g[p + 1], (cz - lz) + g[p + 2]
                p += 3
                continue
            if count > 1:
                corner = _key(px - reach, py - reach, pz - reach)
                crowded = False
                for offset in near:
                    for a in get(corner + offset, ()):
                        if first <= a <= last:
                            ex, ey, ez = xs[a] - px, ys[a] - py, zs[a] - pz
                            if sqrt(ex * ex + ey * ey + ez * ez) < min_sep:
                                crowded = True
                                break
                    if crowded:
                        break
                if crowded:
                    continue
            break
        xs.append(px)
        ys.append(py)
        zs.append(pz)
        key = _key(px, py, pz)
        keys.append(key)
        members = get(key)
        if members is None:
            cells[key] = [count]
        else:
            members.append(count)
        old = count - recent - 1   # no longer among the atoms any candidate is tested against
        if old >= 0:
            cells[keys[old]].remove(old)
        count += 1
    return np.column_stack([xs, ys, zs]), size - p


def phantom_atoms(box: int, atoms_per_voxel: float = 0.02, seed: int = 0):
    """Atom positions (voxels from the box centre, axes x, y, z) and amplitudes.

    Returns ``(positions (m, 3) float64, amplitudes (m,) float64)``.
    """
    if box < 8:
        raise ValueError(f"box must be at least 8, got {box}")
    rng = np.random.default_rng(seed)
    total = max(40, int(round(atoms_per_voxel * box ** 3)))
    positions, amplitudes = [], []
    for center_frac, radius_frac, share in _DOMAINS:
        center = tuple(float(c) for c in np.asarray(center_frac) * box)
        n = max(10, int(round(share * total)))
        normals = _Normals(rng)
        chain, unused = _chain(center, radius_frac * box, n, normals)
        normals.settle(unused)
        positions.append(chain)
        kinds = rng.random(n)
        amplitudes.append(np.select([kinds < 0.02, kinds < 0.20, kinds < 0.40], [2.5, 1.3, 1.15], 1.0))
    return np.concatenate(positions), np.concatenate(amplitudes)


def estimated_peak_bytes(box: int, atoms_per_voxel: float = 0.02) -> int:
    """Peak memory of :func:`gaussian_atom_phantom` beyond the interpreter, bytes: the float32
    volume, the slab buffer and bincount output, the batch arrays and the atom lists."""
    atoms = atoms_per_voxel * box ** 3
    slab = 2 * 8 * (_SLAB + 6) * box ** 2
    batch = 6 * 8 * 343 * _BATCH
    return int(4 * box ** 3 + slab + batch + 200 * atoms)


def _axis_weights(base: np.ndarray, coords: np.ndarray, offsets: np.ndarray, sigma: float, box: int):
    """(window, m) voxel indices along one axis and exp(−(voxel − coordinate)²/(2σ²)), 0 outside
    the box. Atoms on the last axis: the products below then run over long rows."""
    vox = offsets[:, None] + base[None, :]
    w = np.exp(-((vox - coords[None, :]) ** 2) / (2.0 * sigma ** 2))
    w[(vox < 0) | (vox >= box)] = 0.0
    return vox, w


def gaussian_atom_phantom(box: int, atom_sigma: float = 0.8, atoms_per_voxel: float = 0.02,
                          seed: int = 0) -> np.ndarray:
    """The phantom sampled on a ``box``³ grid, indexed ``[x, y, z]``, float32, maximum 1.

    Each atom is ``a·exp(−|r − p|² / (2σ²))`` with σ = ``atom_sigma`` voxels, centred at
    its position relative to voxel ``box // 2`` (the real-space origin of the centred FFTs),
    evaluated on the (2⌈3.5σ⌉+1)³ voxels around ``floor(p)`` (the rest is below 2e-3 of the atom's peak).
    Sums are float64; the volume is stored float32.
    """
    positions, amplitudes = phantom_atoms(box, atoms_per_voxel=atoms_per_voxel, seed=seed)
    return atoms_volume(positions, amplitudes, box, atom_sigma)


def atoms_volume(positions: np.ndarray, amplitudes: np.ndarray, box: int, atom_sigma: float = 0.8) -> np.ndarray:
    """Gaussian atoms (positions (m, 3) voxels from voxel ``box // 2``, axes x, y, z) on a
    ``box``³ grid indexed ``[x, y, z]``, float32, scaled to maximum 1."""
    reach = int(np.ceil(3.5 * atom_sigma))
    offsets = np.arange(-reach, reach + 1)
    coords = positions + box // 2
    base = np.floor(coords).astype(np.int64)
    order = np.lexsort((base[:, 2], base[:, 1], base[:, 0]))   # memory order: the scatter stays in cache
    coords, base, amplitudes = coords[order], base[order], amplitudes[order]

    volume = np.zeros((box, box, box), dtype=np.float32)
    depth = _SLAB + 2 * reach               # buffer planes: x in [x0 − reach, x0 + _SLAB + reach)
    buffer = np.zeros((depth, box, box))
    plane = box * box

    def flush(x0: int, planes: int) -> None:
        """Planes x0 − reach … x0 − reach + planes − 1 are complete: store them, shift the rest."""
        lo = x0 - reach
        a, b = max(lo, 0), min(lo + planes, box)
        if a < b:
            volume[a:b] = buffer[a - lo:b - lo]
        buffer[:depth - planes] = buffer[planes:].copy()
        buffer[depth - planes:] = 0.0

    x_first = int(base[0, 0]) if len(base) else 0
    n_slabs = -(-(int(base[-1, 0]) - x_first + 1) // _SLAB) if len(base) else 0
    starts = np.searchsorted(base[:, 0], x_first + _SLAB * np.arange(n_slabs + 1))
    for s in range(n_slabs):
        x0 = x_first + s * _SLAB
        for i in range(starts[s], starts[s + 1], _BATCH):
            j = min(starts[s + 1], i + _BATCH)
            vx, wx = _axis_weights(base[i:j, 0], coords[i:j, 0], offsets, atom_sigma, box)
            vy, wy = _axis_weights(base[i:j, 1], coords[i:j, 1], offsets, atom_sigma, box)
            vz, wz = _axis_weights(base[i:j, 2], coords[i:j, 2], offsets, atom_sigma, box)
            wx *= amplitudes[i:j]
            np.clip(vy, 0, box - 1, out=vy)   # out-of-box voxels carry weight 0
            np.clip(vz, 0, box - 1, out=vz)
            rows = ((vx - (x0 - reach))[:, None, :] * box + vy[None, :, :]) * box     # (7, 7, m)
            index = (rows[:, :, None, :] + vz[None, None, :, :]).ravel()
            values = ((wx[:, None, :] * wy[None, :, :])[:, :, None, :] * wz[None, None, :, :]).ravel()
            lo, hi = int(index.min()), int(index.max()) + 1   # the batch's span of the buffer
            index -= lo
            buffer.reshape(-1)[lo:hi] += np.bincount(index, weights=values, minlength=hi - lo)
        flush(x0, _SLAB)
    flush(x_first + n_slabs * _SLAB, depth)
    del buffer
    volume /= volume.max()
    return volume
