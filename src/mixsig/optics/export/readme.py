"""``<name>_README.txt`` — the file conventions with the numbers of one export filled in.

Owns `readme_text`: the DOE's size, pitch, wavelength, index, h_2π and levels, the conventions
of heights, phases and the grid, and per written file what it holds (for the GDS, the etch
depth of each layer), in plain ASCII for the people who fabricate the element.
"""

from __future__ import annotations

from collections.abc import Iterable

from .metadata import FORMAT, FORMAT_VERSION, DOEMetadata


def readme_text(meta: DOEMetadata, name: str, n: int, written: Iterable[str]) -> str:
    h2pi = meta.height_2pi_m
    lines = [
        f"mixsig DOE export '{name}' (format {FORMAT} v{FORMAT_VERSION})",
        "",
        f"DOE: {n} x {n} pixels, pitch {meta.pitch_m * 1e6:.6g} um, "
        f"size {n * meta.pitch_m * 1e3:.6g} mm; optical axis at the centre of pixel "
        f"({n // 2}, {n // 2}) (row, column).",
        f"Design wavelength {meta.wavelength_m * 1e9:.6g} nm, material index n = "
        f"{meta.material_index:.8g}; 2*pi etch depth h_2pi = lambda/(n-1) = {h2pi * 1e9:.6g} nm.",
        "Levels: "
        + (
            "continuous phase."
            if meta.levels is None
            else f"L = {meta.levels}, level k = 0..{meta.levels - 1} has height "
            f"k*{meta.height_step_m * 1e9:.6g} nm and phase 2*pi*k/{meta.levels}."
        ),
        f"Focal length: {'unknown' if meta.focal_length_m is None else meta.focal_length_m}"
        " m." + (f" Comment: {meta.comment}" if meta.comment else ""),
        "",
        "Heights are material heights above the deepest level; phase = 2*pi*(n-1)*h/lambda,",
        "in [0, 2*pi). Array element [r, c] is the pixel at x = (c - N//2)*pitch,",
        "y = (r - N//2)*pitch.",
        "",
        "Files:",
        f"  {name}.safetensors: float64 tensors phase_rad, height_m (exact; metadata inside).",
        f"  {name}_height.tif / {name}_phase.tif: uint16 codes, height = code * h_2pi/S,",
        f"    phase = code * 2*pi/S, S = {meta.counts_per_2pi} codes per 2*pi; row 0 stored first",
        "    (a viewer shows y pointing down); JSON metadata in ImageDescription; resolution",
        "    tags in pixels per centimetre.",
        f"  {name}.png: picture of the phase (and PSF); y up.",
    ]
    if meta.etch_steps is not None:
        assert meta.levels is not None and meta.height_step_m is not None
        lines += [
            f"  {name}.gds: units um, cell '{name}', y up, origin = optical axis. Start from a",
            f"    flat substrate; etch step j removes 2^(j-1)*h_2pi/{meta.levels} inside layer j:",
        ]
        for j in range(1, meta.etch_steps + 1):
            depth = 2 ** (j - 1) * meta.height_step_m
            lines.append(f"      layer {j}: etch depth {depth * 1e9:.6g} nm")
        lines += [
            f"    A pixel of level k is etched by (L-1-k)*{meta.height_step_m * 1e9:.6g} nm in "
            "total (etch code e = L-1-k,",
            "    layer j = bit j-1 of e); layer 0 holds text labels only (metadata).",
        ]
    lines += ["", "Written: " + ", ".join(written), ""]
    return "\n".join(lines)
