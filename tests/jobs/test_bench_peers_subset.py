"""bench/peers/compare.py --first N: the peers read the first N particles from the same stack."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from recovar_jl.jobs.simulate import random_parameters
from recovar_jl.jobs.star import particles_tables, read_particles, stack_image_names, write_star

COMPARE = Path(__file__).resolve().parents[2] / "bench" / "peers" / "compare.py"


@pytest.fixture(scope="module")
def compare():
    spec = importlib.util.spec_from_file_location("peers_compare", COMPARE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _data(folder: Path, n: int, box: int = 8) -> Path:
    folder.mkdir()
    params = random_parameters(n, np.random.default_rng(1))
    write_star(folder / "particles.star", particles_tables(stack_image_names("particles.mrcs", n), params.rotations,
                                                           params.translations, params.ctf_params, 3.0, box))
    (folder / "particles.mrcs").write_bytes(b"stack")
    (folder / "ground_truth.mrc").write_bytes(b"truth")
    return folder


@pytest.mark.parametrize("first", [1, 4, 7])
def test_first_particles_keeps_the_first_rows_and_links_the_same_files(tmp_path, compare, first):
    data = _data(tmp_path / "data", 7)
    subset = compare.first_particles(data, first, tmp_path / "work")
    whole, cut = read_particles(data / "particles.star"), read_particles(subset / "particles.star")
    assert len(cut) == first
    np.testing.assert_array_equal(cut.rotations, whole.rotations[:first])
    np.testing.assert_array_equal(cut.ctf_params, whole.ctf_params[:first])
    np.testing.assert_array_equal(cut.image_indices, whole.image_indices[:first])
    for name in ("particles.mrcs", "ground_truth.mrc"):
        assert (subset / name).resolve() == (data / name).resolve()


def test_first_particles_refuses_more_than_the_data_has(tmp_path, compare):
    data = _data(tmp_path / "data", 3)
    with pytest.raises(SystemExit, match="--first: .* has only 3 particles, asked for 4"):
        compare.first_particles(data, 4, tmp_path / "work")
