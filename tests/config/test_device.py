"""The ``device`` field and `resolve_device`: every name refused or resolved as documented."""

import pytest
import torch
from pydantic import ValidationError

from mixsig.config.device import DeviceError, available_devices, resolve_device
from mixsig.config.run import TrainConfig
from mixsig.errors import MixsigError


def test_cpu_and_auto_resolve_on_a_machine_without_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device(None) == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    assert available_devices()[0] == "cpu"


def test_auto_takes_cuda_when_present(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("auto") == torch.device("cuda")
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    with pytest.raises(DeviceError, match=r"2 CUDA device\(s\), cuda:0 to cuda:1"):
        resolve_device("cuda:2")


@pytest.mark.parametrize("name", ["cuda", "cuda:0"])
def test_cuda_where_there_is_none_names_what_there_is(monkeypatch, name):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(DeviceError) as err:
        resolve_device(name)
    msg = str(err.value)
    assert repr(name) in msg and "no CUDA device" in msg and "has: cpu" in msg
    assert isinstance(err.value, MixsigError)


def test_mps_where_there_is_none(monkeypatch):
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(DeviceError, match="no MPS"):
        resolve_device("mps")


@pytest.mark.parametrize("name", ["gpu", "cuda:", "cuda:-1", "CUDA", "tpu", "cpu:0", ""])
def test_a_name_that_is_no_device_is_refused_with_the_allowed_ones(name):
    with pytest.raises(DeviceError, match="auto, cpu, cuda, cuda:N or mps"):
        resolve_device(name)


def test_run_config_device_field():
    assert TrainConfig().device == "auto"
    assert TrainConfig(device="cuda:3").device == "cuda:3"  # checked when the run starts
    with pytest.raises(ValidationError, match="device"):
        TrainConfig(device="gpu")
