"""The size of an analog array (``array.rows``): default unlimited, range, dumps, round trip."""

import pytest

from mixsig import ConfigError, HardwareConfig, load_hardware
from mixsig.config import save_yaml, validate
from mixsig.config.hardware import ROWS_MAX, ArrayConfig


def test_rows_default_to_unlimited_and_stay_out_of_the_dump():
    hw = HardwareConfig()
    assert hw.array.rows is None
    # what every config meant before the field existed: its dump, and so the run keys and
    # caches hashed from it, do not change
    assert set(hw.model_dump(mode="json")) == {"dac", "weights", "distortion", "noise", "adc"}
    assert '"array"' not in hw.model_dump_json()


def test_given_rows_are_dumped_and_round_trip(tmp_path):
    hw = validate(HardwareConfig, {"array": {"rows": 512}})
    assert hw.array.rows == 512 and hw.model_dump()["array"] == {"rows": 512}
    assert HardwareConfig.model_validate_json(hw.model_dump_json()) == hw
    save_yaml(hw, tmp_path / "hw.yaml")
    assert load_hardware(tmp_path / "hw.yaml") == hw
    assert validate(HardwareConfig, {"array": {"rows": ROWS_MAX}}).array.rows == ROWS_MAX
    assert validate(HardwareConfig, {"array": {"rows": None}}) == HardwareConfig()


@pytest.mark.parametrize(
    "rows, words",
    [
        (0, "greater than or equal to 1"),
        (-3, "greater than or equal to 1"),
        (ROWS_MAX + 1, f"less than or equal to {ROWS_MAX}"),
        (True, "valid integer"),
        (512.0, "valid integer"),
        ("512", "valid integer"),
    ],
)
def test_bad_rows_are_refused_naming_the_field(rows, words):
    with pytest.raises(ConfigError) as err:
        validate(HardwareConfig, {"array": {"rows": rows}})
    assert "  array.rows:" in str(err.value) and words in str(err.value)


def test_unknown_array_keys_are_refused():
    with pytest.raises(ConfigError, match=r"array\.columns"):
        validate(HardwareConfig, {"array": {"columns": 512}})


def test_the_description_gives_the_range_the_unit_and_who_ignores_it():
    text = ArrayConfig.model_fields["rows"].description
    assert "[1, 2^20 = 1048576]" in text and "inputs summed per array column" in text
    assert "optical layers ignore it" in text and "null for unlimited" in text
