"""recovar_jl.core.configs: frozen, validated parameter containers (recovar.core.configs)."""
import dataclasses
import types

import numpy as np
import pytest

from conftest import assert_close, load_fixture
from recovar_jl.core.configs import CovarianceOpts, CovColumnOpts, EmbeddingOpts, ForwardModelConfig, ModelState


def recording_ctf(calls):
    """A plain callable CTF that records how it was called and returns ones."""
    def ctf(ctf_params, image_shape, voxel_size, half_image=False):
        calls.append((np.asarray(ctf_params).shape, tuple(image_shape), voxel_size, half_image))
        H, W = image_shape
        return np.ones((len(ctf_params), H * (W // 2 + 1) if half_image else H * W), np.float32)
    return ctf


def make_config(**kwargs):
    fields = dict(image_shape=(16, 16), volume_shape=(16, 16, 16), grid_size=16, voxel_size=4.25, padding=0,
                  disc_type="linear_interp", ctf=recording_ctf([]))
    fields.update(kwargs)
    return ForwardModelConfig(**fields)


def fixture_dataset():
    from recovar_jl.core.ctf import CTFEvaluator, CTFMode
    return types.SimpleNamespace(ctf_evaluator=CTFEvaluator(CTFMode.SPA), grid_size=16, image_shape=(16, 16),
                                 voxel_size=4.25, padding=2, premultiplied_ctf=True, volume_mask_threshold=0.3,
                                 data_multiplier=2.5)


# -------------------------------------------------------------------------------------
# ForwardModelConfig: fields, defaults, immutability
# -------------------------------------------------------------------------------------

def test_forward_model_config_fields_and_defaults_match_recovar():
    names = [f.name for f in dataclasses.fields(ForwardModelConfig)]
    assert names == ["image_shape", "volume_shape", "grid_size", "voxel_size", "padding", "disc_type", "ctf",
                     "premultiplied_ctf", "volume_mask_threshold", "volume_upsampling_factor",
                     "data_multiplier", "process_fn"]
    cfg = make_config()
    assert cfg.premultiplied_ctf is False
    assert cfg.volume_mask_threshold == 0.0
    assert cfg.volume_upsampling_factor == 1
    assert cfg.data_multiplier == 1.0
    assert cfg.process_fn is None


def test_forward_model_config_accepts_positional_arguments_in_recovar_order():
    ctf = recording_ctf([])
    cfg = ForwardModelConfig((8, 8), (8, 8, 8), 8, 1.5, 0, "cubic", ctf, True, 0.5, 1, 2.0, None)
    assert (cfg.disc_type, cfg.ctf, cfg.premultiplied_ctf, cfg.volume_mask_threshold, cfg.data_multiplier) == \
        ("cubic", ctf, True, 0.5, 2.0)


def test_forward_model_config_is_frozen():
    cfg = make_config()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.grid_size = 8


def test_forward_model_config_normalises_shapes_to_int_tuples():
    cfg = make_config(image_shape=np.array([16, 16]), volume_shape=[16, 16, 16], grid_size=np.int64(16),
                      voxel_size=np.float32(4.25))
    assert cfg.image_shape == (16, 16) and type(cfg.image_shape[0]) is int
    assert cfg.volume_shape == (16, 16, 16) and type(cfg.volume_shape[2]) is int
    assert type(cfg.grid_size) is int and type(cfg.voxel_size) is float


def test_equal_configs_compare_equal_and_hash_alike():
    ctf = recording_ctf([])
    a, b = make_config(ctf=ctf), make_config(ctf=ctf)
    assert a == b and hash(a) == hash(b)
    assert a != a.replace(disc_type="nearest")


def test_replace_changes_only_the_given_fields_and_validates():
    cfg = make_config()
    new = cfg.replace(disc_type="cubic", padding=4)
    assert (new.disc_type, new.padding) == ("cubic", 4)
    assert new.replace(disc_type=cfg.disc_type, padding=cfg.padding) == cfg
    assert cfg.disc_type == "linear_interp"
    with pytest.raises(TypeError, match="unknown field"):
        cfg.replace(disk_type="cubic")
    with pytest.raises(ValueError, match="disc_type"):
        cfg.replace(disc_type="linear")


def test_derived_sizes():
    cfg = make_config(image_shape=(16, 16), volume_shape=(32, 32, 32), grid_size=32, volume_upsampling_factor=2)
    assert cfg.base_volume_shape == (16, 16, 16)
    assert cfg.volume_size == 32 ** 3
    assert cfg.image_size == 256
    assert type(cfg.volume_size) is int and type(cfg.image_size) is int


def test_base_volume_shape_floors_grid_size_over_upsampling():
    assert make_config(grid_size=15, volume_upsampling_factor=2).base_volume_shape == (7, 7, 7)


def test_repr_lists_required_fields_and_only_non_default_options():
    cfg = make_config(data_multiplier=3.0)
    text = repr(cfg)
    assert text.startswith("ForwardModelConfig(")
    assert "image_shape=(16, 16)" in text and "disc_type='linear_interp'" in text
    assert "data_multiplier=3.0" in text
    assert "premultiplied_ctf" not in text and "process_fn" not in text


def test_empty_disc_type_is_accepted_as_recovar_does():
    assert make_config(disc_type="").disc_type == ""


@pytest.mark.parametrize("field, value, error, words", [
    ("image_shape", (16,), ValueError, "image_shape"),
    ("image_shape", 16, TypeError, "image_shape"),
    ("image_shape", (16, 0), ValueError, "image_shape"),
    ("volume_shape", (16, 16), ValueError, "volume_shape"),
    ("volume_shape", (16, 16, 2.5), TypeError, "volume_shape"),
    ("grid_size", 0, ValueError, "grid_size"),
    ("grid_size", "16", TypeError, "grid_size"),
    ("voxel_size", 0.0, ValueError, "voxel_size"),
    ("voxel_size", float("nan"), ValueError, "voxel_size"),
    ("voxel_size", "1.0", TypeError, "voxel_size"),
    ("padding", -2, ValueError, "padding"),
    ("disc_type", "linear", ValueError, "disc_type"),
    ("disc_type", 1, TypeError, "disc_type"),
    ("ctf", None, TypeError, "ctf"),
    ("premultiplied_ctf", "yes", TypeError, "premultiplied_ctf"),
    ("volume_mask_threshold", float("inf"), ValueError, "volume_mask_threshold"),
    ("volume_upsampling_factor", 0, ValueError, "volume_upsampling_factor"),
    ("data_multiplier", None, TypeError, "data_multiplier"),
    ("process_fn", 3, TypeError, "process_fn"),
])
def test_bad_field_raises_error_naming_the_field(field, value, error, words):
    with pytest.raises(error, match=words):
        make_config(**{field: value})


# -------------------------------------------------------------------------------------
# CTF methods
# -------------------------------------------------------------------------------------

def test_compute_ctf_methods_call_the_evaluator_with_config_geometry():
    calls = []
    cfg = make_config(ctf=recording_ctf(calls), image_shape=(16, 16), voxel_size=2.0)
    params = np.zeros((3, 9), np.float32)
    assert cfg.compute_ctf(params).shape == (3, 256)
    assert cfg.compute_ctf(params, half_image=True).shape == (3, 16 * 9)
    assert cfg.compute_ctf_half(params).shape == (3, 16 * 9)
    assert cfg.compute_ctf_at_shape(params, (32, 32)).shape == (3, 1024)
    assert calls == [((3, 9), (16, 16), 2.0, False), ((3, 9), (16, 16), 2.0, True),
                     ((3, 9), (16, 16), 2.0, True), ((3, 9), (32, 32), 2.0, False)]


def test_compute_ctf_methods_match_recovar():
    ref = load_fixture("configs")
    cfg = ForwardModelConfig.from_dataset(fixture_dataset())
    params = ref["ctf_params"]
    assert_close(cfg.compute_ctf(params), ref["compute_ctf"], name="compute_ctf")
    assert_close(cfg.compute_ctf(params, half_image=True), ref["compute_ctf_half_image"], name="half_image")
    assert_close(cfg.compute_ctf_half(params), ref["compute_ctf_half"], name="compute_ctf_half")
    assert_close(cfg.compute_ctf_at_shape(params, (32, 32)), ref["compute_ctf_at_shape_32"], name="at_shape")


# -------------------------------------------------------------------------------------
# from_dataset
# -------------------------------------------------------------------------------------

@pytest.mark.parametrize("tag, factor", [("plain", None), ("up2", 2)])
def test_from_dataset_matches_recovar(tag, factor):
    ref = load_fixture("configs")
    cfg = ForwardModelConfig.from_dataset(fixture_dataset(), disc_type="cubic", upsampling_factor=factor)
    assert cfg.volume_shape == tuple(ref[f"{tag}__volume_shape"])
    assert cfg.grid_size == ref[f"{tag}__grid_size"]
    assert cfg.base_volume_shape == tuple(ref[f"{tag}__base_volume_shape"])
    assert cfg.volume_size == ref[f"{tag}__volume_size"]
    assert cfg.image_size == ref[f"{tag}__image_size"]
    assert cfg.volume_upsampling_factor == ref[f"{tag}__volume_upsampling_factor"]
    assert cfg.padding == ref[f"{tag}__padding"]
    assert cfg.premultiplied_ctf == ref[f"{tag}__premultiplied_ctf"]
    assert cfg.volume_mask_threshold == pytest.approx(float(ref[f"{tag}__volume_mask_threshold"]))
    assert cfg.data_multiplier == pytest.approx(float(ref[f"{tag}__data_multiplier"]))
    assert cfg.disc_type == "cubic"


def test_from_dataset_uses_defaults_for_missing_optional_attributes():
    calls = []
    cryo = types.SimpleNamespace(ctf_evaluator=recording_ctf(calls), grid_size=np.int64(8),
                                 image_shape=np.array([8, 8]), voxel_size=np.float32(3.0))
    cfg = ForwardModelConfig.from_dataset(cryo)
    assert cfg.disc_type == "linear_interp" and cfg.process_fn is None
    assert (cfg.padding, cfg.premultiplied_ctf, cfg.volume_mask_threshold, cfg.data_multiplier) == (0, False, 0.0, 1.0)
    assert cfg.volume_shape == (8, 8, 8) and cfg.image_shape == (8, 8) and cfg.voxel_size == 3.0
    # A plain callable is wrapped by as_ctf_evaluator and still receives half_image.
    cfg.compute_ctf_half(np.zeros((2, 9), np.float32))
    assert calls == [((2, 9), (8, 8), 3.0, True)]


def test_from_dataset_keeps_a_ctf_evaluator_unchanged():
    cryo = fixture_dataset()
    assert ForwardModelConfig.from_dataset(cryo).ctf is cryo.ctf_evaluator


def test_from_dataset_passes_process_fn():
    fn = lambda images: images  # noqa: E731
    assert ForwardModelConfig.from_dataset(fixture_dataset(), process_fn=fn).process_fn is fn


def test_from_dataset_refuses_an_object_without_dataset_attributes():
    with pytest.raises(TypeError, match="ctf_evaluator"):
        ForwardModelConfig.from_dataset(types.SimpleNamespace(grid_size=8, image_shape=(8, 8), voxel_size=1.0))


def test_from_dataset_refuses_bad_upsampling_factor():
    with pytest.raises(ValueError, match="upsampling_factor"):
        ForwardModelConfig.from_dataset(fixture_dataset(), upsampling_factor=0)


# -------------------------------------------------------------------------------------
# ModelState and the option bundles
# -------------------------------------------------------------------------------------

def test_model_state_holds_arrays_without_copying_and_is_frozen():
    mean = np.arange(8, dtype=np.complex64)
    mask = np.ones(8, np.float32)
    state = ModelState(mean, mask)
    assert state.mean_estimate is mean and state.volume_mask is mask
    assert state.basis is None and state.eigenvalues is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        state.basis = mean


def test_model_state_equality_compares_array_contents_and_repr_summarises_arrays():
    a = ModelState(np.zeros(4), np.ones(4), basis=np.zeros((2, 4)), eigenvalues=[2.0, 1.0])
    b = ModelState(np.zeros(4), np.ones(4), basis=np.zeros((2, 4)), eigenvalues=np.array([2.0, 1.0]))
    assert a == b
    assert a != b.replace(eigenvalues=np.array([2.0, 0.5]))
    assert a != ModelState(np.zeros(4), np.ones(4))
    assert repr(a) == ("ModelState(mean_estimate=float64[4], volume_mask=float64[4], basis=float64[2, 4], "
                       "eigenvalues=float64[2])")


def test_model_state_refuses_non_numeric_arrays():
    with pytest.raises(TypeError, match="mean_estimate"):
        ModelState(None, np.ones(3))
    with pytest.raises(TypeError, match="basis"):
        ModelState(np.zeros(3), np.ones(3), basis=["a", "b"])
    with pytest.raises(ValueError, match="eigenvalues"):
        ModelState(np.zeros(3), np.ones(3), eigenvalues=np.ones((2, 2)))


def test_option_bundles_defaults_match_recovar():
    assert dataclasses.astuple(CovColumnOpts()) == ("triangular", "triangular", 2, True, 3)
    opts = CovarianceOpts("cubic")
    assert dataclasses.astuple(opts) == ("cubic", True, False, 5)
    assert dataclasses.astuple(EmbeddingOpts()) == (False, False, False, True)
    assert [f.name for f in dataclasses.fields(CovColumnOpts)] == [
        "right_kernel", "left_kernel", "right_kernel_width", "mask_images", "soften_mask"]
    assert [f.name for f in dataclasses.fields(CovarianceOpts)] == [
        "disc_type_u", "do_mask_images", "shared_label", "soften"]
    assert [f.name for f in dataclasses.fields(EmbeddingOpts)] == [
        "compute_covariances", "compute_bias", "shared_label", "contrast_shared_across_tilt_series"]


def test_option_bundles_are_frozen_hashable_and_have_short_reprs():
    assert repr(CovColumnOpts()) == "CovColumnOpts()"
    assert repr(CovarianceOpts("linear_interp", soften=2)) == "CovarianceOpts(disc_type_u='linear_interp', soften=2)"
    assert repr(EmbeddingOpts(compute_bias=True)) == "EmbeddingOpts(compute_bias=True)"
    assert hash(EmbeddingOpts()) == hash(EmbeddingOpts())
    with pytest.raises(dataclasses.FrozenInstanceError):
        EmbeddingOpts().compute_bias = True


def test_covariance_opts_requires_disc_type_u():
    with pytest.raises(TypeError):
        CovarianceOpts()


@pytest.mark.parametrize("make, words", [
    (lambda: CovColumnOpts(right_kernel="gaussian"), "right_kernel"),
    (lambda: CovColumnOpts(left_kernel=None), "left_kernel"),
    (lambda: CovColumnOpts(right_kernel_width=0), "right_kernel_width"),
    (lambda: CovColumnOpts(mask_images="no"), "mask_images"),
    (lambda: CovColumnOpts(soften_mask=-1), "soften_mask"),
    (lambda: CovarianceOpts("bilinear"), "disc_type_u"),
    (lambda: CovarianceOpts("cubic", shared_label=2), "shared_label"),
    (lambda: CovarianceOpts("cubic", soften=1.5), "soften"),
    (lambda: EmbeddingOpts(compute_covariances="true"), "compute_covariances"),
])
def test_option_bundles_refuse_bad_values_naming_the_field(make, words):
    with pytest.raises((TypeError, ValueError), match=words):
        make()
