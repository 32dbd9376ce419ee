"""Fixtures shared across the test tree (which mirrors the package: tests/signal/ tests
mixsig.signal, and so on); shared helpers are in tests/helpers/."""

import pytest
import torch


@pytest.fixture(scope="module")
def one_thread():
    """Small FFTs: one thread avoids waiting on the second core of a busy 2-core CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
