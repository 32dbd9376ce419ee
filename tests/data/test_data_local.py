"""Tests of `mixsig.data.idx`, `mixsig.data.cifar` and `mixsig.data.local.load_local`.

Every file is written here, small, in the standard formats (IDX, CIFAR-10 binary), raw and
gzipped, in each folder layout that `load_local` resolves; nothing is downloaded.
"""

from __future__ import annotations

import gzip
import pickle
import re
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.data import (
    BE_DTYPES,
    CIFAR_NAMES,
    CIFAR_PER_BATCH,
    CIFAR_TEST,
    IDX_NAMES,
    N_TEST,
    N_TRAIN,
    idx_bytes,
    write,
    write_cifar,
    write_mnist,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from mixsig.data import DataError, Split, load_local, to_input
from mixsig.data.cifar import parse_cifar_batch, to_grayscale
from mixsig.data.idx import parse_idx, read_bytes, read_idx


def one_record(label: int, pixels: dict[int, int]) -> bytes:
    """A hand-built CIFAR record: zeros except `pixels` {byte offset in the 3072: value}."""
    rec = bytearray(3073)
    rec[0] = label
    for offset, value in pixels.items():
        rec[1 + offset] = value
    return bytes(rec)


def as_unit(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(a.astype(np.float32)) / 255.0


# ---------------------------------------------------------------- IDX format


@pytest.mark.parametrize("code", sorted(BE_DTYPES))
def test_parse_idx_every_type_code_round_trips(code: int) -> None:
    values = np.array([[0, 1, 7], [100, 2, 127]])
    if code != 0x08:
        values = values - 3  # negative values for the signed and float types
    if code in (0x0D, 0x0E):
        values = values + 0.25
    out = parse_idx(idx_bytes(values, code))
    assert out.shape == (2, 3)
    assert out.dtype == np.dtype(BE_DTYPES[code]).newbyteorder("=")
    np.testing.assert_array_equal(out, values)


@settings(max_examples=40, deadline=None)
@given(
    code=st.sampled_from(sorted(BE_DTYPES)),
    shape=st.lists(st.integers(0, 4), min_size=1, max_size=4),
    seed=st.integers(0, 2**16),
)
def test_parse_idx_round_trips_any_shape(code: int, shape: list[int], seed: int) -> None:
    arr = np.random.default_rng(seed).integers(-100, 100, shape)
    if code == 0x08:
        arr = np.abs(arr)
    np.testing.assert_array_equal(parse_idx(idx_bytes(arr, code)), arr)


def test_gzip_is_detected_by_magic_bytes_not_extension(tmp_path: Path) -> None:
    arr = np.arange(12, dtype=np.uint8).reshape(3, 4)
    gz_no_ext = write(tmp_path / "images-idx2-ubyte", idx_bytes(arr), gz=True)
    raw_with_gz_ext = write(tmp_path / "raw-idx2-ubyte.gz", idx_bytes(arr), gz=False)
    np.testing.assert_array_equal(read_idx(gz_no_ext), arr)
    np.testing.assert_array_equal(read_idx(raw_with_gz_ext), arr)


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"\x00", r"truncated IDX header"),
        (b"\x01\x00\x08\x01" + struct.pack(">I", 1) + b"\x05", r"bad IDX magic number 0x01000801"),
        (b"\x00\x00\x0a\x01" + struct.pack(">I", 1) + b"\x05", r"unknown IDX type code 0x0A"),
        (b"\x00\x00\x08\x03" + struct.pack(">I", 1), r"truncated IDX header .*3 dimensions"),
        (b"\x00\x00\x08\x00", r"IDX header declares 0 dimensions"),
        (idx_bytes(np.zeros((3, 4), np.uint8))[:-1], r"truncated: header says 3x4 uint8"),
        (idx_bytes(np.zeros((3, 4), np.uint8)) + b"\x00\x00", r"2 trailing bytes"),
        (idx_bytes(np.zeros(3, np.int32), 0x0C)[:-2], r"truncated: .*12 data bytes.* 10 follow"),
    ],
    ids=[
        "short-header",
        "bad-magic",
        "unknown-type",
        "short-dims",
        "zero-dims",
        "truncated",
        "trailing",
        "truncated-int32",
    ],
)
def test_bad_idx_files_raise_data_error_naming_the_file(
    tmp_path: Path, data: bytes, problem: str
) -> None:
    path = write(tmp_path / "bad-idx-ubyte", data)
    with pytest.raises(DataError, match=re.escape(str(path)) + ": " + problem):
        read_idx(path)


def test_corrupt_and_truncated_gzip_raise_data_error(tmp_path: Path) -> None:
    good = gzip.compress(idx_bytes(np.arange(1000, dtype=np.uint8)))
    for name, data in [("junk.gz", b"\x1f\x8b" + b"junk" * 10), ("cut.gz", good[: len(good) // 2])]:
        path = write(tmp_path / name, data)
        with pytest.raises(DataError, match=re.escape(str(path)) + ": corrupt gzip stream"):
            read_bytes(path)


# ---------------------------------------------------------------- MNIST / Fashion-MNIST


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gz"])
@pytest.mark.parametrize(
    ("name", "subdir"),
    [
        ("mnist", ""),
        ("mnist", "MNIST/raw"),
        ("mnist", "mnist"),
        ("fashion-mnist", ""),
        ("fashion-mnist", "FashionMNIST/raw"),
        ("fashion-mnist", "fashion-mnist"),
    ],
)
def test_idx_datasets_round_trip_in_every_layout(
    tmp_path: Path, name: str, subdir: str, gz: bool
) -> None:
    arrays = write_mnist(tmp_path / subdir, gz=gz)
    split = load_local(name, tmp_path)
    assert isinstance(split, Split)
    assert split.name == name
    assert split.x_train.shape == (N_TRAIN, 1, 28, 28)
    assert split.x_test.shape == (N_TEST, 1, 28, 28)
    # stored as the file holds them (uint8), made inputs batch by batch (x/255 in float32,
    # bitwise what a float copy of the whole set holds)
    assert split.x_train.dtype == torch.uint8 and split.y_train.dtype == torch.int64
    assert split.x_test.dtype == torch.uint8 and split.y_test.dtype == torch.int64
    tr_x, tr_y, te_x, te_y = (arrays[n] for n in IDX_NAMES)
    assert torch.equal(split.x_train[:, 0], torch.from_numpy(tr_x))
    assert torch.equal(to_input(split.x_train)[:, 0], as_unit(tr_x))
    assert torch.equal(to_input(split.x_test)[:, 0], as_unit(te_x))
    assert torch.equal(split.y_train, torch.from_numpy(tr_y.astype(np.int64)))
    assert torch.equal(split.y_test, torch.from_numpy(te_y.astype(np.int64)))
    assert to_input(split.x_train).dtype == torch.float32


def test_idx_pixel_values_are_exact(tmp_path: Path) -> None:
    arrays = write_mnist(tmp_path)
    img = arrays[IDX_NAMES[0]]
    img[3, 5, 7], img[3, 0, 0] = 255, 0
    write(tmp_path / IDX_NAMES[0], idx_bytes(img))
    split = load_local("mnist", tmp_path)
    assert split.x_train[3, 0, 5, 7].item() == 255 and split.x_train[3, 0, 0, 0].item() == 0
    x = to_input(split.x_train)
    assert x[3, 0, 5, 7].item() == 1.0
    assert x[3, 0, 0, 0].item() == 0.0
    assert x[1, 0, 2, 9].item() == pytest.approx(img[1, 2, 9] / 255.0, abs=1e-7)


def test_raw_file_preferred_and_gz_mix_allowed(tmp_path: Path) -> None:
    arrays = write_mnist(tmp_path, gz=True)
    write(tmp_path / IDX_NAMES[3], idx_bytes(arrays[IDX_NAMES[3]]))  # raw + .gz of one file
    split = load_local("mnist", tmp_path)
    assert torch.equal(split.y_test, torch.from_numpy(arrays[IDX_NAMES[3]].astype(np.int64)))


def test_idx_limits_take_the_first_samples(tmp_path: Path) -> None:
    arrays = write_mnist(tmp_path / "MNIST" / "raw")
    split = load_local("mnist", tmp_path, limit_train=7, limit_test=3)
    assert split.x_train.shape == (7, 1, 28, 28) and split.x_test.shape == (3, 1, 28, 28)
    assert torch.equal(to_input(split.x_train)[:, 0], as_unit(arrays[IDX_NAMES[0]][:7]))
    assert torch.equal(split.y_test, torch.from_numpy(arrays[IDX_NAMES[3]][:3].astype(np.int64)))
    big = load_local("mnist", tmp_path, limit_train=10_000)
    assert len(big.y_train) == N_TRAIN


def test_grayscale_is_a_no_op_for_idx(tmp_path: Path) -> None:
    write_mnist(tmp_path)
    a, b = load_local("mnist", tmp_path), load_local("mnist", tmp_path, grayscale=True)
    assert torch.equal(a.x_train, b.x_train) and b.name == "mnist"


@pytest.mark.parametrize(
    ("name", "title", "folders"),
    [
        ("mnist", "MNIST", ("", "MNIST/raw", "mnist")),
        ("fashion-mnist", "Fashion-MNIST", ("", "FashionMNIST/raw", "fashion-mnist")),
    ],
)
def test_missing_idx_files_list_every_name_and_folder(
    tmp_path: Path, name: str, title: str, folders: tuple[str, ...]
) -> None:
    with pytest.raises(DataError) as info:
        load_local(name, tmp_path)
    msg = str(info.value)
    root, sub1, sub2 = (str(tmp_path / f) if f else str(tmp_path) for f in folders)
    expected = ", ".join(f"{n}[.gz]" for n in IDX_NAMES)
    assert msg == f"{title} not found under {root}: expected {expected} in {root}, {sub1} or {sub2}"


def test_partial_idx_folder_names_the_missing_file(tmp_path: Path) -> None:
    write_mnist(tmp_path / "mnist")
    (tmp_path / "mnist" / IDX_NAMES[2]).unlink()
    with pytest.raises(DataError, match=re.escape(f"{tmp_path / 'mnist'} lacks {IDX_NAMES[2]}")):
        load_local("mnist", tmp_path)


def test_fashion_is_not_found_in_mnist_folders(tmp_path: Path) -> None:
    write_mnist(tmp_path / "MNIST" / "raw")
    with pytest.raises(DataError, match=r"Fashion-MNIST not found .*FashionMNIST/raw"):
        load_local("fashion-mnist", tmp_path)


def test_image_label_count_mismatch(tmp_path: Path) -> None:
    arrays = write_mnist(tmp_path)
    write(tmp_path / IDX_NAMES[1], idx_bytes(arrays[IDX_NAMES[1]][:-1]))
    pattern = (
        rf"count mismatch: {re.escape(str(tmp_path / IDX_NAMES[0]))} holds {N_TRAIN} images "
        rf"but {re.escape(str(tmp_path / IDX_NAMES[1]))} holds {N_TRAIN - 1} labels"
    )
    with pytest.raises(DataError, match=pattern):
        load_local("mnist", tmp_path)


@pytest.mark.parametrize(("value", "code"), [(10, 0x08), (255, 0x08), (-1, 0x09)])
def test_idx_labels_outside_0_to_9(tmp_path: Path, value: int, code: int) -> None:
    arrays = write_mnist(tmp_path)
    labels = arrays[IDX_NAMES[3]].astype(np.int64)
    labels[4] = value
    path = write(tmp_path / IDX_NAMES[3], idx_bytes(labels, code))
    pattern = re.escape(str(path)) + rf": label {value} at index 4 is outside 0\.\.9"
    with pytest.raises(DataError, match=pattern):
        load_local("mnist", tmp_path)


def test_idx_images_of_wrong_shape_or_type(tmp_path: Path) -> None:
    write_mnist(tmp_path)
    path = write(tmp_path / IDX_NAMES[0], idx_bytes(np.zeros((N_TRAIN, 28, 27), np.uint8)))
    with pytest.raises(DataError, match=re.escape(str(path)) + r": expected images shaped"):
        load_local("mnist", tmp_path)
    write(tmp_path / IDX_NAMES[0], idx_bytes(np.zeros((N_TRAIN, 28, 28)), 0x0D))
    with pytest.raises(DataError, match=re.escape(str(path)) + r": expected unsigned-byte"):
        load_local("mnist", tmp_path)


def test_truncated_idx_file_inside_a_dataset(tmp_path: Path) -> None:
    write_mnist(tmp_path, gz=True)
    path = tmp_path / (IDX_NAMES[2] + ".gz")
    path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes())[:-100]))
    with pytest.raises(DataError, match=re.escape(str(path)) + r": truncated"):
        load_local("mnist", tmp_path)


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown local data set 'svhn'"):
        load_local("svhn", tmp_path)
    with pytest.raises(ValueError, match="limit_train must be a positive int"):
        load_local("mnist", tmp_path, limit_train=0)
    with pytest.raises(ValueError, match="limit_test must be a positive int"):
        load_local("mnist", tmp_path, limit_test=True)
    with pytest.raises(DataError, match=re.escape(str(tmp_path / "nope")) + " does not exist"):
        load_local("mnist", tmp_path / "nope")


# ---------------------------------------------------------------- CIFAR-10 (binary version)


@pytest.mark.parametrize("subdir", ["", "cifar-10-batches-bin"])
def test_cifar_round_trips_in_both_layouts(tmp_path: Path, subdir: str) -> None:
    tr_x, tr_y, te_x, te_y = write_cifar(tmp_path / subdir)
    split = load_local("cifar10", tmp_path)
    assert split.name == "cifar10"
    assert split.x_train.shape == (5 * CIFAR_PER_BATCH, 3, 32, 32)
    assert split.x_test.shape == (CIFAR_TEST, 3, 32, 32)
    assert split.x_train.dtype == torch.uint8 and split.y_test.dtype == torch.int64
    assert torch.equal(to_input(split.x_train), as_unit(tr_x))
    assert torch.equal(to_input(split.x_test), as_unit(te_x))
    assert torch.equal(split.y_train, torch.from_numpy(tr_y.astype(np.int64)))
    assert torch.equal(split.y_test, torch.from_numpy(te_y.astype(np.int64)))


def test_cifar_channel_order_and_row_major_layout(tmp_path: Path) -> None:
    write_cifar(tmp_path)
    # record 0: R plane, row 0, col 3; record 1: G plane, row 5, col 7; record 2: B row 31 col 0
    records = [
        one_record(4, {0 * 1024 + 0 * 32 + 3: 200}),
        one_record(5, {1 * 1024 + 5 * 32 + 7: 100}),
        one_record(6, {2 * 1024 + 31 * 32 + 0: 255}),
    ]
    write(tmp_path / "test_batch.bin", b"".join(records))
    split = load_local("cifar10", tmp_path)
    x = to_input(split.x_test)
    assert split.y_test.tolist() == [4, 5, 6]
    for i, (c, y, xx, v) in enumerate([(0, 0, 3, 200), (1, 5, 7, 100), (2, 31, 0, 255)]):
        assert x[i, c, y, xx].item() == pytest.approx(v / 255.0, abs=1e-7)
        assert torch.count_nonzero(x[i]).item() == 1


def test_cifar_grayscale_uses_bt601_luma(tmp_path: Path) -> None:
    write_cifar(tmp_path / "cifar-10-batches-bin")
    plane = 1024
    records = [
        one_record(0, {k: 255 for k in range(plane)}),  # pure red
        one_record(1, {plane + k: 255 for k in range(plane)}),  # pure green
        one_record(2, {2 * plane + k: 255 for k in range(plane)}),  # pure blue
        one_record(3, {k: 255 for k in range(3 * plane)}),  # white
        one_record(4, {k: (10, 20, 30)[k // plane] for k in range(3 * plane)}),
        one_record(5, {}),  # black
    ]
    write(tmp_path / "cifar-10-batches-bin" / "test_batch.bin", b"".join(records))
    split = load_local("cifar10", tmp_path, grayscale=True)
    assert split.name == "cifar10-gray"
    assert split.x_test.shape == (6, 1, 32, 32) and split.x_train.shape == (20, 1, 32, 32)
    assert split.x_test.dtype == torch.float32
    expected = [0.299, 0.587, 0.114, 1.0, (0.299 * 10 + 0.587 * 20 + 0.114 * 30) / 255, 0.0]
    for i, value in enumerate(expected):
        img = split.x_test[i, 0]
        assert torch.allclose(img, torch.full_like(img, value), atol=1e-6)
    assert split.x_test.max().item() <= 1.0


def test_to_grayscale_matches_formula_on_random_pixels() -> None:
    rgb = np.random.default_rng(1).integers(0, 256, (3, 3, 4, 5), dtype=np.uint8)
    r, g, b = (rgb[:, c : c + 1].astype(np.float64) / 255 for c in range(3))
    np.testing.assert_allclose(to_grayscale(rgb), 0.299 * r + 0.587 * g + 0.114 * b, atol=1e-6)


def test_cifar_limits_span_batches_and_skip_later_files(tmp_path: Path) -> None:
    tr_x, tr_y, te_x, _ = write_cifar(tmp_path)
    write(tmp_path / "data_batch_5.bin", b"\x00" * 10)  # not read when the limit is met earlier
    split = load_local("cifar10", tmp_path, limit_train=6, limit_test=2)
    assert torch.equal(to_input(split.x_train), as_unit(tr_x[:6]))
    assert torch.equal(split.y_train, torch.from_numpy(tr_y[:6].astype(np.int64)))
    assert torch.equal(to_input(split.x_test), as_unit(te_x[:2]))


def test_missing_cifar_files_list_every_name_and_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError) as info:
        load_local("cifar10", tmp_path)
    sub = tmp_path / "cifar-10-batches-bin"
    assert str(info.value) == (
        f"CIFAR-10 not found under {tmp_path}: expected {', '.join(CIFAR_NAMES)} "
        f"in {tmp_path} or {sub}"
    )


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"\x00" * 3072, r"size 3072 bytes is not a multiple of the 3073-byte"),
        (b"\x00" * (2 * 3073 + 5), r"size 6151 bytes is not a multiple of the 3073-byte"),
        (b"", r"empty file"),
        (one_record(1, {}) + one_record(10, {}), r"label 10 of record 1 is outside 0\.\.9"),
    ],
    ids=["one-byte-short", "trailing-bytes", "empty", "bad-label"],
)
def test_bad_cifar_files_raise_data_error_naming_the_file(
    tmp_path: Path, data: bytes, problem: str
) -> None:
    write_cifar(tmp_path)
    path = write(tmp_path / "data_batch_3.bin", data)
    with pytest.raises(DataError, match=re.escape(str(path)) + ": " + problem):
        load_local("cifar10", tmp_path)


def test_parse_cifar_batch_shapes_and_dtypes() -> None:
    x, y = parse_cifar_batch(one_record(7, {5: 9}) * 3)
    assert x.shape == (3, 3, 32, 32) and x.dtype == np.uint8 and y.tolist() == [7, 7, 7]


class _Alarm:
    """Unpickling this writes the sentinel file: proof that something was unpickled."""

    def __init__(self, sentinel: Path) -> None:
        self.sentinel = sentinel

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (exec, (f"open({str(self.sentinel)!r}, 'w').write('unpickled')",))


@pytest.fixture
def no_unpickling(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("mixsig tried to unpickle")

    for attr in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, attr, refuse)


@pytest.mark.parametrize(
    ("layout", "target"),
    [
        ("parent", "cifar-10-batches-py"),  # root holds cifar-10-batches-py/
        ("inside", "cifar-10-batches-py"),  # root is cifar-10-batches-py/
        ("flat", "."),  # root holds data_batch_1 etc. directly
        ("as-bin", "cifar-10-batches-bin"),  # pickles renamed to *.bin
    ],
)
def test_python_pickled_cifar_is_refused_without_unpickling(
    tmp_path: Path, no_unpickling: None, layout: str, target: str
) -> None:
    sentinel = tmp_path / "UNPICKLED"
    folder = tmp_path / "data" / target
    payload = pickle.dumps(_Alarm(sentinel), protocol=2)
    suffix = ".bin" if layout == "as-bin" else ""
    for name in (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch"):
        write(folder / (name + suffix), payload)
    write(folder / "batches.meta", payload)
    root = folder if layout == "inside" else tmp_path / "data"
    with pytest.raises(DataError) as info:
        load_local("cifar10", root)
    msg = str(info.value)
    assert "python (pickled) version of CIFAR-10" in msg
    assert "binary version" in msg and "cifar-10-batches-bin" in msg
    assert all(name in msg for name in CIFAR_NAMES)
    assert not sentinel.exists()


def test_cifar_batches_may_be_gzipped(tmp_path: Path) -> None:
    tr_x, *_ = write_cifar(tmp_path)
    for name in CIFAR_NAMES:
        write(tmp_path / name, (tmp_path / name).read_bytes(), gz=True)
    assert torch.equal(to_input(load_local("cifar-10", tmp_path).x_train), as_unit(tr_x))
