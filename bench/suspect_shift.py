"""What AWM+'s suspect-class shift (`awm purify --suspect-shift S`) gives on finished runs, in PyTorch (never part
of `npm test`).

  /usr/bin/python3 bench/suspect_shift.py --attack models/fmnist_resnet18w16_blend.attack.json \
    --original models/fmnist_resnet18w16_blend.safetensors OUT.safetensors:OUT.json [...] --shifts 0 0.5 1

Each OUT is an `awm purify --method awm+` output and OUT.json its report. The suspected class is the one the run
itself shifted (the report's suspectShift) or, for a run made with the shift off, the one the rule without a suspect
search (`--suspect-starts 0`) names from the report's self-check before masking (the class of the larger flip, when it is at least 80 %);
`--suspect K` names it instead (e.g. what `npm run bench suspect-search` found). An output written with the shift on
already has it: `--shifts 0 -1` then gives it as written and with the shift undone. For each shift, the suspect's
logit is lowered by it (what lowering the last layer's bias does),
on the output as written and on the output with the original model's last layer put back (the masks alone), and
ACC, ASR (target excluded), ASR over the images right without the trigger and the non-target images in the target
class with no trigger are measured on all 10,000 Fashion-MNIST test images. `--json` writes the rows.
`--every-class` also prints, for each output as written, the accuracy each class's shift by the largest `--shifts`
value would cost: what a wrongly suspected class costs.
"""
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from awm_reference import load_test, trigger_fn  # noqa: E402
from torch_interop import build, read_safetensors  # noqa: E402
from asr_breakdown import with_head_from  # noqa: E402

SUSPECT_MIN_FLIP = 0.8


def suspected(details, forced):
    if forced is not None:
        return forced, float("nan")
    if "suspectShift" in details:
        return details["suspectShift"]["cls"], details["suspectShift"]["flip"]
    before = details["selfCheck"]["before"]
    flip, cls = (before["triggerFlip"], before["triggerClass"]) if before["triggerFlip"] >= before["noiseFlip"] else (before["noiseFlip"], before["noiseClass"])
    return (cls, flip) if flip >= SUSPECT_MIN_FLIP else (None, flip)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runs", nargs="+", metavar="OUT.safetensors:REPORT.json")
    ap.add_argument("--attack", required=True)
    ap.add_argument("--original", required=True)
    ap.add_argument("--shifts", type=float, nargs="+", default=[0.0, 0.5, 1.0])
    ap.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", metavar="FILE")
    ap.add_argument("--suspect", type=int, help="shift this class in every run, whatever the reports say")
    ap.add_argument("--every-class", action="store_true", help="also the accuracy cost of shifting each class in turn")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    original = read_safetensors(a.original)[0]
    x, y = load_test(a.data_dir)
    apply, target = trigger_fn(a.attack)
    xt = apply(x)
    nt = y != target
    rows = []
    for run in a.runs:
        path, report = run.split(":")
        cls, flip = suspected(json.load(open(report))["details"], a.suspect)
        state, meta = read_safetensors(path)
        for head, st in (("as written", state), ("masks alone", with_head_from(state, original))):
            _, net = build(st, meta, tuple(x.shape[-2:]))
            net.load_state_dict(st, strict=True)
            net.eval()
            with torch.no_grad():
                zc, zt = net(x), net(xt)
            if a.every_class and head == "as written":
                s, base = max(a.shifts), (zc.argmax(1) == y).float().mean().item()
                costs = []
                for k in range(zc.shape[1]):
                    z = zc.clone()
                    z[:, k] -= s
                    costs.append(100 * (base - (z.argmax(1) == y).float().mean().item()))
                print(f"{os.path.basename(path)}: accuracy lost (points) if class k were shifted by {s}: " + " ".join(f"{k}:{v:.2f}" for k, v in enumerate(costs)))
            for s in a.shifts:
                c, t = zc.clone(), zt.clone()
                if cls is not None:
                    c[:, cls] -= s
                    t[:, cls] -= s
                clean, trig = c.argmax(1), t.argmax(1)
                right = nt & (clean == y)
                pct = lambda v: round(100 * v.float().mean().item(), 1)  # noqa: E731
                row = {"run": os.path.basename(path), "head": head, "suspect": cls, "flip": round(flip, 3), "shift": s,
                       "acc": pct(clean == y), "asr": pct(trig[nt] == target), "asrOfRight": pct(trig[right] == target), "cleanToTarget": pct(clean[nt] == target)}
                rows.append(row)
                print(f"{row['run']} ({head}), suspect {cls} (flip {100 * flip:.1f} %), shift {s}: ACC {row['acc']} %, ASR {row['asr']} %, "
                      f"ASR of images right without the trigger {row['asrOfRight']} %, in the target with no trigger {row['cleanToTarget']} %")
    if a.json:
        tmp = a.json + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"attack": a.attack, "original": a.original, "rows": rows}, f, indent=1)
        os.replace(tmp, a.json)


if __name__ == "__main__":
    main()
