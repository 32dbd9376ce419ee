"""Slow end to end: the demo job (`make demo`) shows what it claims. Run with `-m slow`."""

import pytest

from mixsig.experiments import run_demo


@pytest.mark.slow
def test_demo_hardware_aware_beats_float_trained_on_the_chain():
    lines: list[str] = []
    rows = run_demo(draws=5, progress=False, echo=lines.append)
    assert rows[0].float_digital > 0.93
    four_bit, three_bit = rows
    # 4 bit, 0.5 LSB: hardware-aware within 2 pp of the digital float network
    assert four_bit.hardware_aware[0] > four_bit.float_digital - 0.02
    # 3 bit, 1.0 LSB: the float-trained network breaks down, hardware-aware training recovers
    assert three_bit.float_on_chain[0] < 0.6
    assert three_bit.hardware_aware[0] > 0.85
    assert any("mean ± std over 5 noise draws" in line for line in lines)
