"""MRC volumes and stacks, stack checks and all-or-nothing outputs (recovar_jl.jobs.mrc)."""
import mrcfile
import numpy as np
import pytest

from recovar_jl.jobs.errors import JobError
from recovar_jl.jobs.mrc import AtomicOutputs, StackReader, StackWriter, read_volume, write_volume


def test_volume_round_trip_is_transposed_to_xyz_with_voxel_size(tmp_path, rng):
    vol = rng.standard_normal((6, 6, 6)).astype(np.float32)
    write_volume(tmp_path / "v.mrc", vol, 1.7)
    with mrcfile.open(tmp_path / "v.mrc") as mrc:
        np.testing.assert_array_equal(mrc.data, vol.transpose(2, 1, 0))   # file is (z, y, x)
        assert mrc.voxel_size.x == pytest.approx(1.7)
    back, voxel = read_volume(tmp_path / "v.mrc")
    np.testing.assert_array_equal(back, vol)
    assert voxel == pytest.approx(1.7)


@pytest.mark.parametrize("shape", [(4, 6, 6), (6, 6)])
def test_read_volume_rejects_non_cubic_data(tmp_path, shape):
    with mrcfile.new(tmp_path / "x.mrc") as mrc:
        mrc.set_data(np.zeros(shape, np.float32))
    with pytest.raises(JobError, match="cubic"):
        read_volume(tmp_path / "x.mrc")


def test_read_volume_reports_missing_and_garbage_files(tmp_path):
    with pytest.raises(JobError, match="no such file"):
        read_volume(tmp_path / "none.mrc")
    (tmp_path / "g.mrc").write_bytes(b"not an mrc file at all" * 3)
    with pytest.raises(JobError, match="MRC"):
        read_volume(tmp_path / "g.mrc")


def _stack(path, n, box, offset=0.0):
    data = (np.arange(n)[:, None, None] + offset + np.zeros((n, box, box))).astype(np.float32)
    w = StackWriter(path, n, box, 2.0)
    w.write(0, data)
    w.close()
    return data


def test_stack_writer_makes_an_image_stack_and_reader_gathers_rows_across_stacks(tmp_path):
    _stack(tmp_path / "a.mrcs", 5, 8)
    _stack(tmp_path / "b.mrcs", 3, 8, offset=100)
    with mrcfile.open(tmp_path / "a.mrcs") as mrc:
        assert mrc.is_image_stack() and mrc.data.shape == (5, 8, 8) and mrc.voxel_size.x == pytest.approx(2.0)
    stack_ids = np.array([0, 1, 0, 0, 1])
    indices = np.array([4, 2, 0, 3, 0])
    with StackReader(tmp_path / "p.star", [tmp_path / "a.mrcs", tmp_path / "b.mrcs"], stack_ids, indices) as r:
        assert r.box == 8
        out = r.read(np.array([0, 1, 2, 3, 4]))
        np.testing.assert_array_equal(out[:, 0, 0], [4, 102, 0, 3, 100])
        np.testing.assert_array_equal(r.read(np.array([3, 1]))[:, 3, 3], [3, 102])


def test_stack_reader_reports_mismatched_boxes(tmp_path):
    _stack(tmp_path / "a.mrcs", 2, 8)
    _stack(tmp_path / "b.mrcs", 2, 10)
    with pytest.raises(JobError, match="same box size") as info:
        StackReader(tmp_path / "p.star", [tmp_path / "a.mrcs", tmp_path / "b.mrcs"], np.array([0, 1]), np.array([0, 0]))
    assert "\n" not in str(info.value)
    with pytest.raises(JobError, match="_rlnImageSize 12"):
        StackReader(tmp_path / "p.star", [tmp_path / "a.mrcs"], np.array([0]), np.array([0]), expected_box=12)


def test_stack_reader_reports_index_out_of_range_and_missing_stack(tmp_path):
    _stack(tmp_path / "a.mrcs", 3, 8)
    with pytest.raises(JobError, match="particle 2 .* image 4 .* only 3 images"):
        StackReader(tmp_path / "p.star", [tmp_path / "a.mrcs"], np.array([0, 0]), np.array([0, 3]))
    with pytest.raises(JobError, match="does not exist"):
        StackReader(tmp_path / "p.star", [tmp_path / "zz.mrcs"], np.array([0]), np.array([0]))


def test_atomic_outputs_rename_on_commit_and_leave_nothing_on_failure(tmp_path):
    out_dir = tmp_path / "out"
    with AtomicOutputs(out_dir) as out:
        out.tmp("a.txt").write_text("a")
        out.tmp("b.txt").write_text("b")
        assert not (out_dir / "a.txt").exists()
        out.commit()
    assert sorted(p.name for p in out_dir.iterdir()) == ["a.txt", "b.txt"]
    with pytest.raises(RuntimeError):
        with AtomicOutputs(out_dir) as out:
            out.tmp("c.txt").write_text("c")
            raise RuntimeError("boom")
    assert sorted(p.name for p in out_dir.iterdir()) == ["a.txt", "b.txt"]


def test_atomic_outputs_reports_an_unusable_directory(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(JobError, match="--out"):
        with AtomicOutputs(tmp_path / "file" / "sub"):
            pass
