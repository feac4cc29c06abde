"""recovar_jl.core.forward (mirrors recovar.core.forward): the forward model and its adjoint.

``A v = CTF ⊙ slice_volume(v)`` (default ``max_r`` clipping; no translations, noise,
padding or ``process_fn``), ``Aᵀ s = adjoint_slice_volume(CTF ⊙ s)`` and the normal
operator ``AᵀA v / σ²`` (docs/conventions.md §11). The Julia kernels (RecovarCore ``src/forward.jl``)
fuse slicing and CTF per image, row by row: with a standard
:class:`~recovar_jl.core.ctf.CTFEvaluator` the CTF of each row is evaluated from the image's
parameters (no CTF array), and ``compute_AtAv`` never forms the images at all (extra memory:
a few volumes, whatever the number of images). A config whose ``ctf`` is some other callable
is honoured by calling it once and passing the resulting CTF array to the same kernels.

Geometry and dtypes are those of :mod:`recovar_jl.core.slicing` (including its scaling of
plane frequencies by ``volume_shape[0] // image_shape[0]`` for upsampled volumes, which
recovar's CPU nearest/linear path omits); the CTF multiplies in the promoted dtype (float64
CTF parameters give 64-bit images).
"""
from __future__ import annotations

import numpy as np

from .. import _julia
from .. import _validate as v
from . import slicing as _slicing
from .configs import ForwardModelConfig
from .ctf import _REQUIRED_COLUMNS, CTFEvaluator, CTFMode, _ctf_params

__all__ = ["forward_model", "forward_model_and_adjoint", "adjoint_forward_model", "compute_AtAv",
           "batch_translate_images"]

_CTF_KIND = {CTFMode.SPA: 2, CTFMode.SPA_ANTIALIASED: 3, CTFMode.TILT_SERIES: 4, CTFMode.CRYO_ET: 5}
_CTF_TABULATED = 1
_NO_CTF_DATA = np.zeros((0, 0), dtype=np.float64)


# ---- argument handling ----------------------------------------------------------------------

class _Geometry:
    """Validated geometry of a config: order, shapes, clip radius, plane-frequency scale."""

    def __init__(self, config):
        if not isinstance(config, ForwardModelConfig):
            raise TypeError(f"config must be a ForwardModelConfig, got {type(config).__name__}")
        self.config = config
        self.order = _slicing.decide_order(config.disc_type)
        self.image_shape = v.square_image_shape(config.image_shape)
        self.volume_shape = _slicing._volume_shape(config.volume_shape)
        self.max_r2 = _slicing._max_r2(_slicing._AUTO, self.image_shape, self.order)
        self.u = _slicing._upsampling(self.image_shape, self.volume_shape)

    def npix(self, half_image):
        H, W = _slicing._image_grid(self.image_shape, half_image)
        return H * W

    def shape_args(self):
        return (*self.volume_shape, *self.image_shape, self.max_r2, self.u)


class _CTFPlan:
    """How the kernels get the CTF: none, per-image parameters, or a tabulated array."""

    def __init__(self, kind, data, dtype, voxel_size=0.0, dose_per_tilt=0.0, angle_per_tilt=0.0):
        self.kind = kind
        self.data = data
        self.dtype = dtype  # dtype of the CTF recovar would form (None: no CTF)
        self.voxel_size = voxel_size
        self.dose_per_tilt = dose_per_tilt
        self.angle_per_tilt = angle_per_tilt

    def args(self):
        return (self.kind, self.data, float(self.voxel_size), float(self.dose_per_tilt),
                float(self.angle_per_tilt))


def _ctf_plan(geo: _Geometry, ctf_params, n_images: int, half_image: bool, skip_ctf) -> _CTFPlan:
    if v.flag(skip_ctf, "skip_ctf"):
        return _CTFPlan(0, _NO_CTF_DATA, None)
    config = geo.config
    evaluator = config.ctf
    # Exactly the standard evaluator: a subclass might change what __call__ computes.
    if type(evaluator) is CTFEvaluator:
        params = _ctf_params(ctf_params, _REQUIRED_COLUMNS[evaluator.mode])
        if params.shape[0] != n_images:
            raise ValueError(f"ctf_params has {params.shape[0]} rows but rotation_matrices has {n_images} images")
        dtype = np.result_type(np.float32, params.dtype)
        return _CTFPlan(_CTF_KIND[evaluator.mode], np.ascontiguousarray(params, dtype=np.float64), dtype,
                        config.voxel_size, evaluator.dose_per_tilt, evaluator.angle_per_tilt)
    # Any other callable: evaluate it once and hand the array to the kernels.
    values = config.compute_ctf(ctf_params, half_image=half_image)
    values = v.real_array(values, "the CTF returned by config.ctf")
    npix = geo.npix(half_image)
    v.check_shape(values, "the CTF returned by config.ctf", (n_images, npix))
    return _CTFPlan(_CTF_TABULATED, values, values.dtype)


def _output_dtype(projection_dtype, plan: _CTFPlan):
    return np.dtype(projection_dtype) if plan.dtype is None else np.result_type(projection_dtype, plan.dtype)


def _volume(volume, geo: _Geometry, half_volume: bool):
    """(stored size,) C-contiguous volume (flat or grid-shaped input of the right size)."""
    return _slicing._volumes(volume, "volume", geo.volume_shape, half_volume, batched=False)[0]


def _image_stack(slices, name, geo: _Geometry, half_image: bool, n_images: int):
    """(n, npix) C-contiguous stack (per image flat or grid-shaped)."""
    stack = _slicing._slices(slices, name, geo.image_shape, half_image, batched=False)[0]
    if stack.shape[0] != n_images:
        raise ValueError(f"{name} holds {stack.shape[0]} images but rotation_matrices has {n_images}")
    return stack


def _noise_variance(noise_variance, n_images: int, npix: int):
    """σ² as a C-contiguous (a, b) array, a ∈ {1, n}, b ∈ {1, npix} (NumPy broadcasting)."""
    noise = v.real_array(noise_variance, "noise_variance")
    try:
        shape = np.broadcast_shapes(noise.shape, (n_images, npix))
    except ValueError:
        shape = None
    if noise.ndim > 2 or shape != (n_images, npix):
        raise ValueError(f"noise_variance must broadcast against the images ({n_images}, {npix}): a scalar, "
                         f"({npix},), ({n_images}, 1) or ({n_images}, {npix}); got shape {noise.shape}")
    if noise.size and not (noise > 0).all():
        raise ValueError("noise_variance must be positive")
    return noise.reshape((1,) * (2 - noise.ndim) + noise.shape)


# ---- public API -------------------------------------------------------------------------------

def forward_model(config, volume, ctf_params, rotation_matrices, skip_ctf=False, half_image=False,
                  half_volume=False):
    """Project a Fourier volume into CTF-modulated Fourier images: ``CTF ⊙ slice_volume(volume)``.

    Parameters
    ----------
    config : ForwardModelConfig
        Geometry (``image_shape``, ``volume_shape``), ``disc_type`` and ``ctf``.
    volume : array, (V,) flat or grid-shaped (N0, N1, N2); with ``half_volume`` the
        rfft-packed (Vh,) / (N0, N1, N2//2+1). Cubic reads it as spline coefficients.
    ctf_params : (n, K) CTF parameters (docs/conventions.md §8); ignored with ``skip_ctf``.
    rotation_matrices : (n, 3, 3).
    skip_ctf : return the bare slices.
    half_image : rfft-packed output images (n, H·(W//2+1)).
    half_volume : ``volume`` is rfft-packed.

    Returns
    -------
    (n, H·W) or (n, H·(W//2+1)) array; dtype of the slice (see `slice_volume`) promoted with
    the CTF's (float32, or float64 for float64 parameters).
    """
    geo = _Geometry(config)
    half_image = v.flag(half_image, "half_image")
    half_volume = v.flag(half_volume, "half_volume")
    rot = v.rotations(rotation_matrices)
    vol = _volume(volume, geo, half_volume)
    plan = _ctf_plan(geo, ctf_params, rot.shape[0], half_image, skip_ctf)
    return _project(geo, vol, rot, plan, half_image, half_volume)


def _project(geo: _Geometry, vol, rot, plan: _CTFPlan, half_image, half_volume):
    dtype = _output_dtype(_slicing._projection_dtype(geo.order, vol.dtype, rot), plan)
    npix = geo.npix(half_image)
    v.check_memory(rot.shape[0] * npix * dtype.itemsize, "the projected images")
    out = np.empty((rot.shape[0], npix), dtype=dtype)
    if out.size:
        _julia.call("forward_model", out, vol, rot, *plan.args(), geo.order, int(half_volume), int(half_image),
                    *geo.shape_args())
    return out


def _adjoint(geo: _Geometry, stack, rot, plan: _CTFPlan, out, half_image, half_volume, cubic_transpose):
    if stack.shape[0]:
        _julia.call("adjoint_forward_model", out, stack, rot, *plan.args(), geo.order, int(half_volume),
                    int(half_image), *geo.shape_args(), int(cubic_transpose))
    return out


def adjoint_forward_model(config, slices, ctf_params, rotation_matrices, skip_ctf=False, volume=None,
                          half_image=False, half_volume=False):
    """Backproject CTF-modulated images: ``adjoint_slice_volume(slices ⊙ CTF)`` (+ ``volume``).

    Nearest/linear: the exact adjoint of `forward_model`. Cubic: as recovar's
    ``adjoint_slice_volume``, the adjoint of slicing the spline coefficients of the volume.

    Parameters
    ----------
    config : ForwardModelConfig
    slices : (n, npix) or (n, H, W); with ``half_image`` (n, H·(W//2+1)) or (n, H, W//2+1),
        backprojected as their Hermitian expansion.
    ctf_params : (n, K); ignored with ``skip_ctf``.
    rotation_matrices : (n, 3, 3).
    volume : optional accumulator (V,) or (Vh,) (flat or grid-shaped); the result is
        ``backprojection + volume``; ``volume`` itself is not modified.
    half_volume : return the rfft-packed (Vh,) fold of the result.

    Returns
    -------
    (V,) or (Vh,) array; dtype of ``slices ⊙ CTF`` (promoted with ``volume``'s when given).
    """
    geo = _Geometry(config)
    half_image = v.flag(half_image, "half_image")
    half_volume = v.flag(half_volume, "half_volume")
    rot = v.rotations(rotation_matrices)
    stack = _image_stack(slices, "slices", geo, half_image, rot.shape[0])
    plan = _ctf_plan(geo, ctf_params, rot.shape[0], half_image, skip_ctf)
    dtype = _output_dtype(stack.dtype, plan)
    size = _slicing._stored_volume_size(geo.volume_shape, half_volume)
    if volume is None:
        v.check_memory(size * dtype.itemsize, "the backprojected volume")
        out = np.zeros(size, dtype=dtype)
    else:
        acc = _volume(volume, geo, half_volume)
        out = np.array(acc, dtype=np.result_type(dtype, acc.dtype), copy=True)
    return _adjoint(geo, stack, rot, plan, out, half_image, half_volume, cubic_transpose=False)


def compute_AtAv(config, volume, ctf_params, rotation_matrices, noise_variance, skip_ctf=False):
    """Normal operator of the forward model: ``(Aᵀ (A v / noise_variance),)``.

    ``A`` is the full-image, full-volume `forward_model`; ``Aᵀ`` its exact transpose (for
    nearest/linear this is `adjoint_forward_model`; for cubic the transpose of slicing from
    coefficients, which differs from cubic `adjoint_forward_model`). Computed image by image
    and pixel by pixel (sample, ×CTF²/σ², scatter): the images are never formed, and the
    extra memory is one volume per thread whatever the number of images.

    Parameters
    ----------
    config : ForwardModelConfig
    volume : (V,) or (N0, N1, N2).
    ctf_params : (n, K); ignored with ``skip_ctf``.
    rotation_matrices : (n, 3, 3).
    noise_variance : σ² broadcasting against (n, H·W): scalar, (H·W,), (n, 1) or (n, H·W);
        positive.

    Returns
    -------
    1-tuple ``(AtAv,)``, AtAv of ``volume``'s shape and dtype.
    """
    geo = _Geometry(config)
    rot = v.rotations(rotation_matrices)
    original = v.numeric_array(volume, "volume", finite=False)
    vol = _volume(original, geo, False)
    n = rot.shape[0]
    npix = geo.npix(False)
    plan = _ctf_plan(geo, ctf_params, n, False, skip_ctf)
    noise = _noise_variance(noise_variance, n, npix)
    compute = _output_dtype(_slicing._projection_dtype(geo.order, vol.dtype, rot), plan)
    vol = np.ascontiguousarray(vol, dtype=compute)
    out = np.zeros(vol.shape, dtype=compute)
    if n:
        _julia.call("compute_AtAv", out, vol, rot, *plan.args(), noise, noise.shape[0], noise.shape[1],
                    geo.order, *geo.volume_shape, geo.image_shape[0], geo.max_r2, geo.u)
    return (out.astype(original.dtype, copy=False).reshape(original.shape),)


def forward_model_and_adjoint(config, volume, ctf_params, rotation_matrices, skip_ctf=False):
    """Forward model and a function applying its transpose.

    Returns
    -------
    slices : (n, H·W) array, ``forward_model(config, volume, ctf_params, rotation_matrices, skip_ctf)``.
    f_adj : callable ``f_adj(ct) -> (Aᵀ ct,)``: ``ct`` (n, H·W) or (n, H, W) image-space
        cotangents; the result has ``volume``'s shape and dtype. ``Aᵀ`` is the exact transpose
        of the forward model (cubic: of slicing from coefficients).
    """
    geo = _Geometry(config)
    rot = v.rotations(rotation_matrices)
    original = v.numeric_array(volume, "volume", finite=False)
    vol = _volume(original, geo, False)
    plan = _ctf_plan(geo, ctf_params, rot.shape[0], False, skip_ctf)
    compute = _output_dtype(_slicing._projection_dtype(geo.order, vol.dtype, rot), plan)
    slices = _project(geo, vol, rot, plan, False, False)
    volume_shape, volume_dtype, size = original.shape, original.dtype, vol.size
    del vol, original  # f_adj keeps only what it needs: shapes, rotations, CTF plan
    # f_adj applies the operator of this call even if the caller later changes its arrays
    rot = rot.copy()
    if plan.kind != _CTF_TABULATED:
        plan.data = plan.data.copy()

    def f_adj(ct):
        """``(Aᵀ ct,)`` for image-space cotangents ``ct`` of shape (n, H·W) or (n, H, W)."""
        stack = _image_stack(ct, "ct", geo, False, rot.shape[0])
        if stack.dtype.kind == "c" and compute.kind != "c":
            raise TypeError(f"ct must be real: the forward model of a real volume is real (got {stack.dtype})")
        out = np.zeros(size, dtype=compute)
        _adjoint(geo, stack, rot, plan, out, False, False, cubic_transpose=True)
        return (out.astype(volume_dtype, copy=False).reshape(volume_shape),)

    return slices, f_adj


def batch_translate_images(image, translation, image_shape):
    """Translate a batch of image stacks by phase ramps (full images only).

    Parameters
    ----------
    image : (B, n, H·W) Fourier images.
    translation : (B, n, 2) shifts in pixels (t0 along columns, t1 along rows).
    image_shape : (H, W), square.

    Returns
    -------
    (B, n, H·W) complex array: ``image · exp(−2πi (kx·t0 + ky·t1)/N)`` (see
    `recovar_jl.core.geometry.translate_images`).
    """
    from .geometry import translate_images

    image = v.numeric_array(image, "image", ndim=3)
    trans = v.real_array(translation, "translation", ndim=3)
    v.check_shape(trans, "translation", (image.shape[0], image.shape[1], 2))
    B, n, npix = image.shape
    flat = translate_images(image.reshape(B * n, npix), trans.reshape(B * n, 2), image_shape)
    return flat.reshape(B, n, npix)
