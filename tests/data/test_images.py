"""`to_input`: a stored batch (uint8 or float) becomes float32 in [0, 1] on its device, x/255
bitwise as a float copy of the whole set would hold it."""

import numpy as np
import torch

from mixsig.data import to_input


def test_uint8_batches_are_divided_by_255_in_float32_bitwise_as_numpy():
    raw = np.arange(256, dtype=np.uint8).reshape(1, 1, 16, 16)
    expected = raw.astype(np.float32)
    expected /= np.float32(255.0)  # what a float copy of the data set held
    out = to_input(torch.from_numpy(raw))
    assert out.dtype == torch.float32
    assert torch.equal(out, torch.from_numpy(expected))
    assert out[0, 0, 0, 0] == 0.0 and out[0, 0, -1, -1] == 1.0


def test_float_batches_pass_unchanged_and_the_store_is_never_written():
    x = torch.rand(4, 1, 8, 8)
    assert to_input(x) is x
    raw = torch.full((2, 1, 3, 3), 255, dtype=torch.uint8)
    to_input(raw).zero_()
    assert torch.all(raw == 255)
    assert to_input(raw, "cpu").device == torch.device("cpu")
