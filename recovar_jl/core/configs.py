"""recovar_jl.core.configs (mirrors recovar.core.configs).

Immutable parameter containers passed to the forward model and to the heterogeneity code:
`ForwardModelConfig` (geometry, CTF and discretization of the image-formation model),
`ModelState` (current reconstruction arrays) and the option bundles `CovColumnOpts`,
`CovarianceOpts` and `EmbeddingOpts`.

All are frozen dataclasses. Fields are validated and normalised on construction (shapes
become tuples of Python ints, flags Python bools), so a wrong value raises a
ValueError/TypeError naming the field instead of failing later inside a kernel.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, Optional, Tuple

import numpy as np

from .. import _validate as v

__all__ = ["ForwardModelConfig", "ModelState", "CovColumnOpts", "CovarianceOpts", "EmbeddingOpts"]

# "" is what recovar passes when a config never slices (e.g. kernel-regression set-up).
_DISC_TYPES = ("nearest", "linear_interp", "cubic", "")
_KERNELS = ("triangular", "square")


# --------------------------------------------------------------------------------------
# Field validators (each names the field it checks)
# --------------------------------------------------------------------------------------

def _owner(cls_name: str, name: str) -> str:
    return f"{cls_name}.{name}"


def _float_field(value, name: str) -> float:
    return float(v.real_number(value, name))


def _choice_field(value, name: str, choices) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, one of {list(choices)}, got {value!r}")
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")
    return value


def _callable_field(value, name: str, optional: bool):
    if value is None and optional:
        return None
    if not callable(value):
        raise TypeError(f"{name} must be callable{' or None' if optional else ''}, got {value!r}")
    return value


def _set(obj, name, value):
    object.__setattr__(obj, name, value)


def _short_repr(value) -> str:
    """Arrays as `dtype[shape]` (a readable summary), everything else as repr."""
    if isinstance(value, np.ndarray):
        return f"{value.dtype.name}{list(value.shape)}"
    return repr(value)


def _repr_non_defaults(obj, multiline: bool) -> str:
    """`Name(field=value, ...)`, listing required fields and fields that differ from their default."""
    parts = []
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        has_default = f.default is not dataclasses.MISSING
        if has_default and _same(value, f.default):
            continue
        parts.append(f"{f.name}={_short_repr(value)}")
    name = type(obj).__name__
    if multiline and parts:
        return name + "(\n" + ",\n".join("  " + p for p in parts) + "\n)"
    return name + "(" + ", ".join(parts) + ")"


def _same(a, b) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return False
    try:
        return bool(a == b) and type(a) == type(b)
    except Exception:
        return False


# --------------------------------------------------------------------------------------
# ForwardModelConfig
# --------------------------------------------------------------------------------------

@dataclass(frozen=True, repr=False)
class ForwardModelConfig:
    """Geometry, CTF and discretization of the image-formation model (immutable).

    Parameters
    ----------
    image_shape : (H, W) image size in pixels.
    volume_shape : (N0, N1, N2) Fourier volume size in voxels (upsampled size when
        ``volume_upsampling_factor > 1``).
    grid_size : volume grid size (``volume_shape[0]`` in practice).
    voxel_size : pixel size in Å.
    padding : real-space image padding in pixels (>= 0).
    disc_type : ``"nearest"``, ``"linear_interp"``, ``"cubic"``, or ``""`` for a config
        that never slices.
    ctf : CTF evaluator, called ``ctf(ctf_params, image_shape, voxel_size, half_image=...)``
        (a :class:`recovar_jl.core.ctf.CTFEvaluator` or any such callable).
    premultiplied_ctf, volume_mask_threshold, volume_upsampling_factor, data_multiplier,
    process_fn : dataset settings carried for callers; not used by ``forward``.
    """

    image_shape: Tuple[int, int]
    volume_shape: Tuple[int, int, int]
    grid_size: int
    voxel_size: float
    padding: int
    disc_type: str
    ctf: Callable
    premultiplied_ctf: bool = False
    volume_mask_threshold: float = 0.0
    volume_upsampling_factor: int = 1
    data_multiplier: float = 1.0
    process_fn: Optional[Callable] = None

    def __post_init__(self):
        n = "ForwardModelConfig"
        _set(self, "image_shape", v.shape_tuple(self.image_shape, _owner(n, "image_shape"), length=2, bounded=False))
        _set(self, "volume_shape", v.shape_tuple(self.volume_shape, _owner(n, "volume_shape"), length=3, bounded=False))
        _set(self, "grid_size", v.integer(self.grid_size, _owner(n, "grid_size"), minimum=1))
        _set(self, "voxel_size", v.positive_scalar(self.voxel_size, _owner(n, "voxel_size")))
        _set(self, "padding", v.integer(self.padding, _owner(n, "padding"), minimum=0))
        _set(self, "disc_type", _choice_field(self.disc_type, _owner(n, "disc_type"), _DISC_TYPES))
        _set(self, "ctf", _callable_field(self.ctf, _owner(n, "ctf"), optional=False))
        _set(self, "premultiplied_ctf", v.flag(self.premultiplied_ctf, _owner(n, "premultiplied_ctf")))
        _set(self, "volume_mask_threshold",
             _float_field(self.volume_mask_threshold, _owner(n, "volume_mask_threshold")))
        _set(self, "volume_upsampling_factor",
             v.integer(self.volume_upsampling_factor, _owner(n, "volume_upsampling_factor"), minimum=1))
        _set(self, "data_multiplier", _float_field(self.data_multiplier, _owner(n, "data_multiplier")))
        _set(self, "process_fn", _callable_field(self.process_fn, _owner(n, "process_fn"), optional=True))

    def __repr__(self) -> str:
        return _repr_non_defaults(self, multiline=True)

    # CTF -----------------------------------------------------------------------------
    def compute_ctf(self, ctf_params, *, half_image: bool = False):
        """CTF of every image on this config's grid.

        Parameters
        ----------
        ctf_params : (n, K) CTF parameters (docs/conventions.md §8).
        half_image : evaluate on the rfft-packed half grid.

        Returns
        -------
        (n, H·W) or (n, H·(W//2+1)) array.
        """
        return self.ctf(ctf_params, self.image_shape, self.voxel_size, half_image=half_image)

    def compute_ctf_half(self, ctf_params):
        """``compute_ctf(ctf_params, half_image=True)``: (n, H·(W//2+1))."""
        return self.compute_ctf(ctf_params, half_image=True)

    def compute_ctf_at_shape(self, ctf_params, image_shape):
        """CTF on the full grid of another image shape (same voxel size): (n, prod(image_shape))."""
        return self.ctf(ctf_params, image_shape, self.voxel_size)

    # Derived sizes ----------------------------------------------------------------------
    @property
    def base_volume_shape(self) -> Tuple[int, int, int]:
        """Shape of the volume before upsampling: ``(g, g, g)``, ``g = grid_size // volume_upsampling_factor``."""
        g = self.grid_size // self.volume_upsampling_factor
        return (g, g, g)

    @property
    def volume_size(self) -> int:
        """Number of voxels, ``prod(volume_shape)``."""
        return int(np.prod(self.volume_shape))

    @property
    def image_size(self) -> int:
        """Number of pixels, ``prod(image_shape)``."""
        return int(np.prod(self.image_shape))

    def replace(self, **kwargs) -> "ForwardModelConfig":
        """A copy with the given fields replaced (validated like the constructor)."""
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(kwargs) - names)
        if unknown:
            raise TypeError(f"ForwardModelConfig.replace got unknown field(s) {unknown}; "
                            f"fields are {sorted(names)}")
        return dataclasses.replace(self, **kwargs)

    @classmethod
    def from_dataset(cls, cryo, disc_type: str = "linear_interp", process_fn: Optional[Callable] = None,
                     upsampling_factor: Optional[int] = None) -> "ForwardModelConfig":
        """Config for a dataset-like object.

        ``cryo`` needs the attributes ``ctf_evaluator`` (wrapped by ``as_ctf_evaluator``),
        ``grid_size``, ``image_shape`` and ``voxel_size``; ``padding`` (0),
        ``premultiplied_ctf`` (False), ``volume_mask_threshold`` (0.0) and
        ``data_multiplier`` (1.0) are read when present. With ``upsampling_factor=u`` the
        volume grid is ``u·grid_size`` on every axis and ``volume_upsampling_factor = u``.
        """
        from recovar_jl.core.ctf import as_ctf_evaluator

        missing = [a for a in ("ctf_evaluator", "grid_size", "image_shape", "voxel_size") if not hasattr(cryo, a)]
        if missing:
            raise TypeError(f"cryo must have the attribute(s) {missing} (a dataset-like object), "
                            f"got {type(cryo).__name__}")
        base_grid_size = v.integer(cryo.grid_size, "cryo.grid_size", minimum=1)
        if upsampling_factor is None:
            factor = 1
        else:
            factor = v.integer(upsampling_factor, "upsampling_factor", minimum=1)
        grid_size = base_grid_size * factor
        return cls(
            image_shape=v.shape_tuple(cryo.image_shape, "cryo.image_shape", length=2, bounded=False),
            volume_shape=(grid_size,) * 3,
            grid_size=grid_size,
            voxel_size=v.positive_scalar(cryo.voxel_size, "cryo.voxel_size"),
            padding=v.integer(getattr(cryo, "padding", 0), "cryo.padding", minimum=0),
            disc_type=disc_type,
            ctf=as_ctf_evaluator(cryo.ctf_evaluator),
            premultiplied_ctf=v.flag(getattr(cryo, "premultiplied_ctf", False), "cryo.premultiplied_ctf"),
            volume_mask_threshold=_float_field(getattr(cryo, "volume_mask_threshold", 0.0),
                                               "cryo.volume_mask_threshold"),
            volume_upsampling_factor=factor,
            data_multiplier=_float_field(getattr(cryo, "data_multiplier", 1.0), "cryo.data_multiplier"),
            process_fn=process_fn,
        )


# --------------------------------------------------------------------------------------
# ModelState
# --------------------------------------------------------------------------------------

def _array_field(value, name: str, optional: bool, real: bool = False):
    if value is None:
        if optional:
            return None
        raise TypeError(f"{name} must be an array, got None")
    try:
        arr = np.asarray(value)
    except Exception as exc:
        raise TypeError(f"{name} could not be converted to an array: {exc}") from None
    allowed = "biuf" if real else "biufc"
    if arr.dtype.kind not in allowed:
        raise TypeError(f"{name} must be a {'real' if real else 'numeric'} array, got dtype {arr.dtype}")
    return arr


@dataclass(frozen=True, repr=False, eq=False)
class ModelState:
    """Current reconstruction arrays (immutable container; the arrays are not copied).

    Parameters
    ----------
    mean_estimate : mean volume (Fourier, flat or half layout).
    volume_mask : real-space volume mask (``None`` accepted, as recovar's noise code passes).
    basis : optional principal components, (k, V) or (k, Vh).
    eigenvalues : optional real eigenvalues (k,).
    """

    mean_estimate: Any
    volume_mask: Any
    basis: Any = None
    eigenvalues: Any = None

    def __post_init__(self):
        _set(self, "mean_estimate", _array_field(self.mean_estimate, "ModelState.mean_estimate", optional=False))
        _set(self, "volume_mask", _array_field(self.volume_mask, "ModelState.volume_mask", optional=True))
        _set(self, "basis", _array_field(self.basis, "ModelState.basis", optional=True))
        eig = _array_field(self.eigenvalues, "ModelState.eigenvalues", optional=True, real=True)
        if eig is not None and eig.ndim != 1:
            raise ValueError(f"ModelState.eigenvalues must be 1-dimensional, got shape {eig.shape}")
        _set(self, "eigenvalues", eig)

    def __repr__(self) -> str:
        return _repr_non_defaults(self, multiline=False)

    def __eq__(self, other):
        if type(other) is not type(self):
            return NotImplemented
        for f in dataclasses.fields(self):
            a, b = getattr(self, f.name), getattr(other, f.name)
            if (a is None) != (b is None):
                return False
            if a is not None and not (a.shape == b.shape and np.array_equal(a, b)):
                return False
        return True

    __hash__ = None  # holds arrays

    def replace(self, **kwargs) -> "ModelState":
        """A copy with the given fields replaced."""
        return dataclasses.replace(self, **kwargs)


# --------------------------------------------------------------------------------------
# Option bundles
# --------------------------------------------------------------------------------------

@dataclass(frozen=True, repr=False)
class CovColumnOpts:
    """Options of the covariance-column (H/B) computation.

    ``right_kernel`` / ``left_kernel``: ``"triangular"`` or ``"square"``;
    ``right_kernel_width`` >= 1; ``mask_images``; ``soften_mask`` >= 0 (mask softening, voxels).
    """

    right_kernel: str = "triangular"
    left_kernel: str = "triangular"
    right_kernel_width: int = 2
    mask_images: bool = True
    soften_mask: int = 3

    def __post_init__(self):
        n = "CovColumnOpts"
        _set(self, "right_kernel", _choice_field(self.right_kernel, _owner(n, "right_kernel"), _KERNELS))
        _set(self, "left_kernel", _choice_field(self.left_kernel, _owner(n, "left_kernel"), _KERNELS))
        _set(self, "right_kernel_width", v.integer(self.right_kernel_width, _owner(n, "right_kernel_width"), minimum=1))
        _set(self, "mask_images", v.flag(self.mask_images, _owner(n, "mask_images")))
        _set(self, "soften_mask", v.integer(self.soften_mask, _owner(n, "soften_mask"), minimum=0))

    def __repr__(self) -> str:
        return _repr_non_defaults(self, multiline=False)


@dataclass(frozen=True, repr=False)
class CovarianceOpts:
    """Options of the covariance-estimation inner functions.

    ``disc_type_u``: discretization of the basis (``"nearest"``, ``"linear_interp"``,
    ``"cubic"``); ``do_mask_images``; ``shared_label`` (tilt series); ``soften`` >= 0.
    """

    disc_type_u: str
    do_mask_images: bool = True
    shared_label: bool = False
    soften: int = 5

    def __post_init__(self):
        n = "CovarianceOpts"
        _set(self, "disc_type_u", _choice_field(self.disc_type_u, _owner(n, "disc_type_u"), _DISC_TYPES))
        _set(self, "do_mask_images", v.flag(self.do_mask_images, _owner(n, "do_mask_images")))
        _set(self, "shared_label", v.flag(self.shared_label, _owner(n, "shared_label")))
        _set(self, "soften", v.integer(self.soften, _owner(n, "soften"), minimum=0))

    def __repr__(self) -> str:
        return _repr_non_defaults(self, multiline=False)


@dataclass(frozen=True, repr=False)
class EmbeddingOpts:
    """Options of the embedding (latent coordinate) computation: four flags."""

    compute_covariances: bool = False
    compute_bias: bool = False
    shared_label: bool = False
    contrast_shared_across_tilt_series: bool = True

    def __post_init__(self):
        for f in dataclasses.fields(self):
            _set(self, f.name, v.flag(getattr(self, f.name), _owner("EmbeddingOpts", f.name)))

    def __repr__(self) -> str:
        return _repr_non_defaults(self, multiline=False)
