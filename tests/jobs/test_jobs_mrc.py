"""MRC volumes and stacks, stack checks and all-or-nothing outputs (recovar_jl.jobs.mrc)."""
import mrcfile
from pathlib import Path
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


@pytest.mark.parametrize("dtype", ["<f4", ">f4", "<i2", "<f2", "<u2", "i1"])
def test_stack_reader_reads_every_stored_mode_in_any_row_order(tmp_path, dtype):
    n, box = 9, 6
    stored = (np.arange(n * box * box).reshape(n, box, box) % 97 - 40).astype(dtype)
    if np.dtype(dtype).kind == "u":
        stored = np.abs(stored.astype(np.int64)).astype(dtype)
    with mrcfile.new(tmp_path / "s.mrcs") as mrc:
        mrc.set_data(stored)
    rows = np.array([8, 0, 1, 2, 5, 4, 4, 7, 3, 6])     # reversed, consecutive, repeated, out of order
    with StackReader(tmp_path / "p.star", [tmp_path / "s.mrcs"], np.zeros(n, int), np.arange(n)) as r:
        out = r.read(rows)
    assert out.dtype == np.float32 and out.shape == (rows.size, box, box)
    np.testing.assert_array_equal(out, stored.astype(np.float32)[rows])


def test_stack_reader_splits_long_runs_and_bounds_open_files(tmp_path, monkeypatch):
    data = [_stack(tmp_path / f"{k}.mrcs", 7, 4, offset=10 * k) for k in range(3)]
    monkeypatch.setattr(StackReader, "_IOV_MAX", 3)
    monkeypatch.setattr(StackReader, "MAX_OPEN", 2)
    stack_ids, indices = np.repeat(np.arange(3), 7), np.tile(np.arange(7), 3)
    with StackReader(tmp_path / "p.star", [tmp_path / f"{k}.mrcs" for k in range(3)], stack_ids, indices) as r:
        for rows in (np.arange(21), np.arange(21)[::-1], np.array([20, 0, 10, 1, 11])):
            np.testing.assert_array_equal(r.read(rows), np.concatenate(data)[rows])
            assert len(r._fds) <= 2
        assert r.read(np.array([], int)).shape == (0, 4, 4)


def test_stack_reader_reports_a_stack_truncated_after_opening(tmp_path):
    _stack(tmp_path / "a.mrcs", 4, 8)
    with StackReader(tmp_path / "p.star", [tmp_path / "a.mrcs"], np.zeros(4, int), np.arange(4)) as r:
        size = (tmp_path / "a.mrcs").stat().st_size
        with open(tmp_path / "a.mrcs", "r+b") as f:
            f.truncate(size - 8 * 8 * 4)
        np.testing.assert_array_equal(r.read(np.arange(3))[:, 0, 0], [0, 1, 2])
        with pytest.raises(JobError, match="truncated"):
            r.read(np.arange(4))


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


def _rss_file_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("RssFile:"):
                return int(line.split()[1])
    return 0


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")
def test_reading_a_stack_does_not_keep_its_pages_resident(tmp_path):
    n, box = 256, 128                                   # 16 MiB of images
    stack = tmp_path / "stack.mrcs"
    with mrcfile.new(str(stack)) as mrc:
        mrc.set_data(np.random.default_rng(0).standard_normal((n, box, box)).astype(np.float32))
    reader = StackReader(tmp_path / "p.star", [stack], np.zeros(n, dtype=int), np.arange(n))
    try:
        before = _rss_file_kib()
        total = 0.0
        for start in range(0, n, 32):
            total += float(reader.read(np.arange(start, start + 32)).sum())
        grown = _rss_file_kib() - before
    finally:
        reader.close()
    assert np.isfinite(total)
    assert grown < 4 * 1024, f"the stack's pages stayed mapped: RssFile grew by {grown} KiB"
