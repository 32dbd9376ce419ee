"""Export an optical layer's diffractive optical element (DOE) for fabrication.

An `OpticalConv2d` in DOE space trains its phase mask directly; here 8 optical channels (4
signed 5×5 kernels) for 16×16 images, with Chang et al.'s optics (532 nm, f = 200 mm, 6 µm DOE
pixels) and a 16-level mask, trained a few steps on scikit-learn's 8×8 digits shown at 16×16
(the optical network `mixsig.models.optical_cnn`, its DOE regulariser in the loss).
`doe_phase()` is the mask to fabricate (on its 16 levels, in [0, 2π));
`mixsig.optics.export_doe` writes it with its metadata (`DOEMetadata`: wavelength, pitch,
levels, material index, focal length):
``<name>.safetensors`` (exact), 16-bit height and phase TIFFs, a PNG of mask and PSF, a
4-etch-step GDSII layout and a README. `import_doe` reads a file back; the phase round-trips.

    .venv/bin/python examples/export_doe.py                      # writes ./doe_export/
    .venv/bin/python examples/export_doe.py --out runs/doe --steps 50
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from torch import nn

import mixsig
from mixsig.data import bundled_digits
from mixsig.models import optical_cnn
from mixsig.nn import optical_regularizer
from mixsig.optics import DOEMetadata, export_doe, import_doe


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path("doe_export"), help="output folder")
    ap.add_argument("--steps", type=int, default=5, help="training steps (default 5)")
    args = ap.parse_args(argv)

    torch.manual_seed(0)
    data = bundled_digits()
    images = data.x_train.repeat_interleave(2, -1).repeat_interleave(2, -2)  # 16×16
    model = optical_cnn(16, out_channels=4, kernel_size=5, parameterisation="doe", doe_levels=16)
    layer = model[0]  # the OpticalConv2d
    mixsig.calibrate(model, [images[:256]])  # the camera's ADC range
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for step in range(args.steps):
        x, y = images[step * 64 : (step + 1) * 64], data.y_train[step * 64 : (step + 1) * 64]
        loss = nn.functional.cross_entropy(model(x), y) + 0.1 * optical_regularizer(model)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    print(f"trained {args.steps} steps, loss {loss.item():.3f}")

    phase = layer.doe_phase()  # float64 N × N, on the 16 levels
    meta = DOEMetadata.from_sampling(
        layer.sampling, levels=layer.doe_levels, material_index=1.46, comment="fused silica"
    )
    psf = layer.camera_plane_psf().detach()
    written = export_doe(phase, args.out, meta, psf=psf, name="doe")
    for key, path in written.items():
        print(f"{key:>12}: {path}")
    back, back_meta = import_doe(written["safetensors"])
    print(
        f"DOE {phase.shape[0]}×{phase.shape[1]} px at {meta.pitch_m * 1e6:g} µm, "
        f"{meta.levels} levels, etch depth h_2π = {meta.height_2pi_m * 1e9:.1f} nm; "
        f"read back: max |Δφ| = {float((back - phase).abs().max()):.1e} rad"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
