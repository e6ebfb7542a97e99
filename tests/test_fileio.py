"""One JSON writer: unique temporaries, atomic replace; readers never see a partial file."""
import json
import multiprocessing as mp

import numpy as np
import pytest

from topoact.fileio import DamagedFileError, read_json, safe_name, save_npy, write_json


def _writer(path, seed, count):
    rng = np.random.default_rng(seed)
    for i in range(count):
        write_json(path, {"writer": seed, "i": i, "payload": rng.random(200).tolist()})


def _reader(path, count, out):
    bad = 0
    for _ in range(count):
        try:
            data = read_json(path)
            bad += not (isinstance(data, dict) and len(data["payload"]) == 200)
        except FileNotFoundError:
            pass
        except (DamagedFileError, KeyError):
            bad += 1
    out.put(bad)


def test_concurrent_writers_and_readers_never_collide_or_see_partial_files(tmp_path):
    # The old writer used one "<file>.tmp" name: two writers crashed on each other's rename and
    # readers saw empty files. Two writer processes and one reader process here.
    path = tmp_path / "default.json"
    ctx = mp.get_context("fork")
    out = ctx.Queue()
    writers = [ctx.Process(target=_writer, args=(path, seed, 150)) for seed in (1, 2)]
    reader = ctx.Process(target=_reader, args=(path, 1500, out))
    for p in writers + [reader]:
        p.start()
    for p in writers + [reader]:
        p.join(120)
        assert p.exitcode == 0
    assert out.get(timeout=10) == 0
    assert read_json(path)["i"] == 149
    assert not list(tmp_path.glob(".*tmp"))          # no temporaries left behind


def test_read_json_names_the_damaged_file(tmp_path):
    path = tmp_path / "meta.json"
    path.write_text('{"layers": ')
    with pytest.raises(DamagedFileError, match="meta.json"):
        read_json(path)


def test_write_json_accepts_numpy_values_and_save_npy_is_atomic(tmp_path):
    write_json(tmp_path / "a.json", {"x": np.float32(1.5), "v": np.arange(3)})
    assert json.loads((tmp_path / "a.json").read_text()) == {"x": 1.5, "v": [0, 1, 2]}
    save_npy(tmp_path / "m.npy", np.eye(2, dtype=np.float32))
    np.testing.assert_array_equal(np.load(tmp_path / "m.npy"), np.eye(2))


def test_safe_name_keeps_module_paths_and_hashes_the_rest():
    assert safe_name("layer3.2.conv1") == "layer3.2.conv1"
    assert safe_name("a/b").startswith("h-") and safe_name("a/b") != safe_name("a\\b")
    assert safe_name("..", prefix="layer-").startswith("layer-")
