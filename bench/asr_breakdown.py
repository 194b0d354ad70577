"""Where a purified model's remaining ASR comes from, per source class, in PyTorch (an independent check of
`awm eval`; never part of `npm test`).

  python3 bench/asr_breakdown.py --attack models/fmnist_resnet18w16_blend.attack.json OUT1.safetensors [OUT2 ...]

For each model and each non-target class of the Fashion-MNIST test split (all 10,000 images): the share sent to
the target by the trigger (ASR), and the share already in the target class without it. Overall: ASR (target
excluded), ASR over the images the model gets right without the trigger, and the share of non-target images in
the target class with no trigger. Supports the two triggers of the models in models/ (bench/awm_reference.py).

`--head-from ORIGINAL.safetensors` also scores each model with the original model's last layer put back: AWM+ masks
convolutions only, so that is what the masks alone give, before `awm purify --calibrate-head` fitted the head (bias
or linear), and one run gives the figures with and without the calibration.
"""
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from awm_reference import load_test, trigger_fn  # noqa: E402
from torch_interop import build, read_safetensors  # noqa: E402


def with_head_from(state, original):
    """The state with linear.weight and linear.bias taken from the original model's state."""
    out = dict(state)
    for key in ("linear.weight", "linear.bias"):
        if key not in original or key not in state or original[key].shape != state[key].shape:
            raise SystemExit(f"--head-from: {key} is missing or has another shape in one of the two models")
        out[key] = original[key]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("models", nargs="+")
    ap.add_argument("--attack", required=True)
    ap.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--other-pattern", action="store_true", help="blend triggers: also the ASR of another uniform-noise pattern at the same weight")
    ap.add_argument("--head-from", metavar="ORIGINAL", help="also score each model with this model's last layer (the masks alone, before head calibration)")
    a = ap.parse_args()
    original = read_safetensors(a.head_from)[0] if a.head_from else None
    torch.set_num_threads(a.threads)
    x, y = load_test(a.data_dir)
    apply, target = trigger_fn(a.attack)
    blend_other = None
    if a.other_pattern:
        (bd,) = json.load(open(a.attack))["backdoors"]
        if bd["trigger"]["type"] != "blend":
            raise SystemExit("--other-pattern needs a blend trigger")
        w = bd["trigger"]["alpha"]
        u = torch.rand((1,) + tuple(x.shape[1:]), generator=torch.Generator().manual_seed(7))
        blend_other = lambda v: (1 - w) * v + w * u  # noqa: E731
    runs = []
    for path in a.models:
        state, meta = read_safetensors(path)
        runs.append((os.path.basename(path), state, meta))
        if original is not None:
            runs.append((os.path.basename(path) + " with the original head", with_head_from(state, original), meta))
    for name, state, meta in runs:
        _, net = build(state, meta, tuple(x.shape[-2:]))
        net.load_state_dict(state, strict=True)
        net.eval()
        with torch.no_grad():
            clean, trig = net(x).argmax(1), net(apply(x)).argmax(1)
            other = net(blend_other(x)).argmax(1) if blend_other else None
        nt = y != target
        right = nt & (clean == y)
        pct = lambda v: f"{100 * v.float().mean().item():.1f}"  # noqa: E731
        per = " ".join(f"{c}:{pct(trig[y == c] == target)}/{pct(clean[y == c] == target)}" for c in range(int(y.max()) + 1) if c != target)
        print(f"{name}: ACC {pct(clean == y)} %, ASR {pct(trig[nt] == target)} %, ASR of images right without the trigger "
              f"{pct(trig[right] == target)} %, in the target with no trigger {pct(clean[nt] == target)} %")
        if other is not None:
            print(f"  ASR with another uniform-noise pattern at the same weight: {pct(other[nt] == target)} %")
        print(f"  per source class, ASR / in the target with no trigger (%): {per}")


if __name__ == "__main__":
    main()
