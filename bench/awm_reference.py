#!/usr/bin/env python3
"""Faithful AWM in plain PyTorch, the yardstick for this project's `awm purify --method awm`.

A second implementation of AWM as docs/algorithms.md describes it, written independently of the TypeScript one, so that
one-shot outcomes can be compared as distributions over seeds (one-shot AWM swings by tens of points
with the seed, so one run of each says little). Two commands:

  check-fixture FIXTURE   replays one AWM round on the PyTorch golden file (awm_round.safetensors) in
                          float64 and exits 1 unless every stored value matches within --tol: this
                          proves the loop below is the algorithm the engine's fixture test checks.
  compare                 the reference's JSON beside `awm purify` reports of the same seeds (the GPU
                          check's calib stage writes both): a Markdown table and a JSON summary.
  run                     one-shot (or K-shot) AWM on a Fashion-MNIST model for each seed: draws the
                          clean images from the test split, adds the 9 random-resized-crop copies,
                          runs AWM, and reports clean accuracy and ASR (target excluded) on the rest
                          of the test split, before and after. Writes JSON.

Needs torch and numpy only (safetensors and IDX files are read by hand, as in torch_interop.py).
"""
import argparse
import gzip
import json
import math
import os
import struct
import sys
import time
import types

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_interop import ResNet18, build, read_safetensors  # noqa: E402


# ---- masks on every conv weight --------------------------------------------------------------------

def _masked_conv_forward(self, x):
    return self._conv_forward(x, self.weight * self.mask, self.bias)


def attach_masks(net):
    """A mask of ones beside every conv weight (shortcut convs included); the weights are frozen."""
    masks = []
    for p in net.parameters():
        p.requires_grad_(False)
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            m.mask = nn.Parameter(torch.ones_like(m.weight))
            m.forward = types.MethodType(_masked_conv_forward, m)
            masks.append(m.mask)
    return masks


def fold_masks(net):
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.Conv2d) and hasattr(m, "mask"):
                m.weight.mul_(m.mask)
                m.mask.fill_(1.0)


# ---- one AWM round, as the spec says -----------------------------------------------------------------

def trigger_phase(net, batches, shape, lr):
    """Plain SGD ascent on CE(f(x + delta), argmax f(x)) from zeros; returns delta and each step's loss."""
    delta = torch.zeros(shape, dtype=next(net.parameters()).dtype, device=next(net.parameters()).device, requires_grad=True)
    opt = torch.optim.SGD([delta], lr=lr)
    losses, deltas = [], []
    for x in batches:
        with torch.no_grad():
            yhat = net(x).argmax(1)
        loss = -F.cross_entropy(net(x + delta), yhat)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        deltas.append(delta.detach().clone())
    return delta.detach(), losses, deltas


def rescale(delta, tau):
    l1 = delta.abs().sum().item()
    return delta * min(1.0, tau / l1) if l1 > 0 else delta, l1


def mask_phase(net, masks, adam, batches, delta, alpha, gamma, on_first_grad=None):
    losses = []
    for i, (x, y) in enumerate(batches):
        clean = F.cross_entropy(net(x), y)
        trig = F.cross_entropy(net(torch.clamp(x + delta, 0, 1)), y)
        l1 = sum(m.abs().sum() for m in masks)
        loss = alpha * clean + (1 - alpha) * trig + gamma * l1
        adam.zero_grad()
        loss.backward()
        if i == 0 and on_first_grad:
            on_first_grad()
        adam.step()
        with torch.no_grad():
            for m in masks:
                m.clamp_(0, 1)
        losses.append((loss.item(), clean.item(), trig.item()))
    return losses


# ---- check against the golden round ------------------------------------------------------------------

def check_fixture(path, tol):
    s, _ = read_safetensors(path)
    s = {k: v.double() for k, v in s.items()}
    x, y = s["input"], s["target"].long()
    w = s["weight.conv1"].shape[0]
    net = ResNet18(x.shape[1], s["param.linear.weight"].shape[0], w).double()
    state = {k[len("param."):]: v for k, v in s.items() if k.startswith("param.")}
    state.update({k[len("buffer."):]: v for k, v in s.items() if k.startswith("buffer.")})
    state.update({k[len("weight."):] + ".weight": v for k, v in s.items() if k.startswith("weight.")})
    missing = net.load_state_dict(state, strict=False).missing_keys
    if [k for k in missing if not k.endswith("num_batches_tracked")]:
        raise SystemExit(f"fixture lacks {missing}")
    net.eval()
    masks = attach_masks(net)
    names = [n[: -len(".mask")] for n, _ in net.named_parameters() if n.endswith(".mask")]
    worst = {}

    def cmp(name, ours, theirs):
        worst[name] = float((ours - theirs).abs().max() / theirs.abs().max().clamp_min(1e-12))

    for m in masks:
        m.requires_grad_(False)
    delta, losses, deltas = trigger_phase(net, [x] * 3, (1,) + tuple(x.shape[1:]), 10.0)
    for k in range(3):
        cmp(f"trigger.step{k}.loss", torch.tensor([losses[k]], dtype=torch.float64), s[f"trigger.step{k}.loss"])
        cmp(f"trigger.step{k}.delta", deltas[k], s[f"trigger.step{k}.delta"])
    delta, _ = rescale(delta, 5.0)
    cmp("trigger.delta_rescaled", delta, s["trigger.delta_rescaled"])
    for m in masks:
        m.requires_grad_(True)
    adam = torch.optim.Adam(masks, lr=1e-2, betas=(0.9, 0.999), eps=1e-8)

    def first_grad():
        cmp("mask.step0.grad", torch.cat([m.grad.flatten() for m in masks]),
            torch.cat([s[f"mask.step0.grad.{n}"].flatten() for n in names]))

    losses = mask_phase(net, masks, adam, [(x, y)] * 3, delta, 0.9, 1e-8, first_grad)
    for k in range(3):
        cmp(f"mask.step{k}.loss", torch.tensor([losses[k][0]], dtype=torch.float64), s[f"mask.step{k}.loss"])
    cmp("mask.final", torch.cat([m.detach().flatten() for m in masks]), torch.cat([s[f"mask.final.{n}"].flatten() for n in names]))
    with torch.no_grad():
        cmp("logits_final", net(x), s["logits_final"])
    for k, v in worst.items():
        print(f"{k:28s} {v:.2e}")
    bad = [k for k, v in worst.items() if not v <= tol]
    print(f"PyTorch {torch.__version__}: {'all within' if not bad else 'OVER'} {tol:g} relative" + (f": {bad}" if bad else ""))
    return 1 if bad else 0


# ---- data, triggers, augmentation ---------------------------------------------------------------------

def write_safetensors(path, tensors):
    """images as F32, labels as I32: the clean-set file `awm purify --clean FILE` reads."""
    header, blobs, offset = {}, [], 0
    for key, t in tensors.items():
        arr = np.ascontiguousarray(t.cpu().numpy())
        dtype = {np.dtype(np.float32): "F32", np.dtype(np.int32): "I32"}[arr.dtype]
        header[key] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [offset, offset + arr.nbytes]}
        blobs.append(arr.tobytes())
        offset += arr.nbytes
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw + b"".join(blobs))
    os.replace(tmp, path)


def read_idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    dims = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def load_test(data_dir):
    x = read_idx(os.path.join(data_dir, "t10k-images-idx3-ubyte.gz")).astype(np.float32) / 255.0
    y = read_idx(os.path.join(data_dir, "t10k-labels-idx1-ubyte.gz")).astype(np.int64)
    return torch.from_numpy(x[:, None]), torch.from_numpy(y)


def trigger_fn(spec_path):
    """The two triggers of the models in models/: BadNets (a corner patch) and Blend (a fixed pattern)."""
    spec = json.load(open(spec_path))
    (bd,) = spec["backdoors"]
    t, target = bd["trigger"], bd["label"]["target"]
    if t["type"] == "patch" and t["position"]["corner"] == "bottom-right" and t["position"].get("margin", 0) == 0:
        h, w, v = t["height"], t["width"], t["values"][0]

        def apply(x):
            x = x.clone()
            x[..., -h:, -w:] = v
            return x
        return apply, target
    if t["type"] == "blend" and t["pattern"]["type"] == "file":
        pat, _ = read_safetensors(os.path.join(os.path.dirname(spec_path), t["pattern"]["path"]))
        p, a = pat[t["pattern"]["key"]].float(), t["alpha"]
        return (lambda x: (1 - a) * x + a * p.to(x.device)), target
    raise SystemExit(f"{spec_path}: only the BadNets corner patch and the file-pattern blend are supported here")


def resized_crop_params(rng, h, w, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)):
    """torchvision's RandomResizedCrop window: ten tries at a random area and aspect, else a centre crop."""
    area = h * w
    for _ in range(10):
        target = area * rng.uniform(*scale)
        aspect = math.exp(rng.uniform(math.log(ratio[0]), math.log(ratio[1])))
        cw, ch = int(round(math.sqrt(target * aspect))), int(round(math.sqrt(target / aspect)))
        if 0 < cw <= w and 0 < ch <= h:
            return int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1)), ch, cw
    r = w / h
    if r < ratio[0]:
        cw, ch = w, int(round(w / ratio[0]))
    elif r > ratio[1]:
        ch, cw = h, int(round(h * ratio[1]))
    else:
        cw, ch = w, h
    return (h - ch) // 2, (w - cw) // 2, ch, cw


def augment(x, copies, flip, rng):
    """x plus `copies` resized crops of each image, made once (the spec's one-shot set)."""
    out = [x]
    h, w = x.shape[-2:]
    for img in x:
        for _ in range(copies):
            i, j, ch, cw = resized_crop_params(rng, h, w)
            c = F.interpolate(img[None, :, i : i + ch, j : j + cw], size=(h, w), mode="bilinear", align_corners=False)
            if flip and rng.uniform() < 0.5:
                c = c.flip(-1)
            out.append(c.clamp(0, 1))
    return torch.cat(out, 0)


@torch.no_grad()
def evaluate(net, x, y, apply, target, batch=1000):
    net.eval()
    correct = hits = others = 0
    for i in range(0, len(x), batch):
        xb, yb = x[i : i + batch], y[i : i + batch]
        correct += (net(xb).argmax(1) == yb).sum().item()
        keep = yb != target
        hits += (net(apply(xb[keep])).argmax(1) == target).sum().item()
        others += keep.sum().item()
    return correct / len(x), hits / others


def run_awm(net, cx, cy, a, gen):
    masks = attach_masks(net)
    adam = torch.optim.Adam(masks, lr=a.mask_lr, betas=(0.9, 0.999), eps=1e-8)
    n = len(cx)
    steps = max(1, n // a.batch_size) * a.inner
    tau = a.tau * cx[0].numel() / 3072
    shape = (1,) + tuple(cx.shape[1:])
    draw = lambda: torch.randint(0, n, (a.batch_size,), generator=gen, device="cpu").to(cx.device)
    for r in range(a.outer):
        for m in masks:
            m.requires_grad_(False)
        delta, _, _ = trigger_phase(net, (cx[draw()] for _ in range(steps)), shape, 10.0)
        delta, l1 = rescale(delta, tau)
        for m in masks:
            m.requires_grad_(True)
        idx = [draw() for _ in range(steps)]
        mask_phase(net, masks, adam, ((cx[i], cy[i]) for i in idx), delta, a.alpha, a.gamma)
    fold_masks(net)


def run(a):
    dev = torch.device("cuda" if a.device == "auto" and torch.cuda.is_available() else "cpu" if a.device == "auto" else a.device)
    if a.threads:
        torch.set_num_threads(a.threads)
    tx, ty = load_test(a.data_dir)
    apply, target = trigger_fn(a.attack or a.model[: -len(".safetensors")] + ".attack.json")
    state, meta = read_safetensors(a.model)
    rows = []
    for seed in a.seeds:
        t0 = time.time()
        rng = np.random.default_rng(seed)
        picked = np.concatenate([rng.choice(np.flatnonzero(ty.numpy() == c), a.per_class, replace=False) for c in range(10)])
        rest = np.setdiff1d(np.arange(len(ty)), picked)
        if a.eval_count:
            rest = rest[: a.eval_count]
        cx, cy = tx[picked], ty[picked]
        if a.per_class == 1:
            cx = augment(cx, 9, a.flip, rng)
            cy = torch.cat([ty[picked]] + [ty[picked][i : i + 1].repeat(9) for i in range(len(picked))])
        if a.save_clean:
            os.makedirs(a.save_clean, exist_ok=True)
            stem = os.path.basename(a.model)[: -len(".safetensors")]
            write_safetensors(os.path.join(a.save_clean, f"{stem}-s{seed}.safetensors"), {"images": cx.float(), "labels": cy.int()})
        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(seed)
        _, net = build(state, meta, tx.shape[-1])
        net.load_state_dict(state, strict=True)
        net = net.to(dev).eval()
        ex, ey = tx[rest].to(dev), ty[rest].to(dev)
        before = evaluate(net, ex, ey, apply, target)
        run_awm(net, cx.to(dev), cy.to(dev), a, gen)
        after = evaluate(net, ex, ey, apply, target)
        row = {"seed": seed, "accBefore": before[0], "asrBefore": before[1], "accAfter": after[0], "asrAfter": after[1],
               "seconds": time.time() - t0, "evalImages": len(rest)}
        print(json.dumps(row), flush=True)
        rows.append(row)
    out = {"torch": torch.__version__, "device": str(dev), "model": a.model, "perClass": a.per_class, "flip": a.flip,
           "outer": a.outer, "inner": a.inner, "batchSize": a.batch_size, "alpha": a.alpha, "tau3072": a.tau, "rows": rows}
    if a.out:
        tmp = a.out + ".tmp"
        with open(tmp, "w") as f:
            json.dump(out, f, indent=2)
        os.replace(tmp, a.out)
    accs = [r["accAfter"] for r in rows]
    asrs = [r["asrAfter"] for r in rows]
    print(f"ACC after {100 * np.mean(accs):.1f} % (min {100 * min(accs):.1f}, max {100 * max(accs):.1f}); "
          f"ASR after {100 * np.mean(asrs):.1f} % (min {100 * min(asrs):.1f}, max {100 * max(asrs):.1f}) over {len(rows)} seeds")
    return 0


def compare(a):
    """Per model and seed: the reference, ours on the reference's clean sets, ours with its own draws."""
    def ours(prefix, stem, seed):
        path = os.path.join(a.ours_dir, f"{prefix}{stem}-s{seed}.json")
        if not os.path.exists(path):
            return None
        r = json.load(open(path))
        return {"accAfter": r["after"]["cleanAccuracy"], "asrAfter": r["after"]["asr"], "seconds": r["seconds"]}

    def stats(rows, key):
        v = [100 * r[key] for r in rows if r]
        return {"mean": float(np.mean(v)), "sd": float(np.std(v, ddof=1)) if len(v) > 1 else 0.0, "n": len(v)} if v else None

    cell = lambda r: f"{100 * r['accAfter']:.1f} / {100 * r['asrAfter']:.1f}" if r else "-"
    summary = {"torch": None, "models": []}
    print("| model | seed | PyTorch reference ACC / ASR | ours, same clean set | ours, own draw |\n|---|---|---|---|---|")
    for path in a.ref:
        ref = json.load(open(path))
        summary["torch"] = ref["torch"]
        stem = os.path.basename(ref["model"])[: -len(".safetensors")]
        rows = []
        for r in ref["rows"]:
            same, own = ours(a.same_prefix, stem, r["seed"]), ours(a.own_prefix, stem, r["seed"])
            rows.append({"seed": r["seed"], "reference": r, "same": same, "own": own})
            print(f"| {stem} | {r['seed']} | {cell(r)} | {cell(same)} | {cell(own)} |")
        m = {"model": stem, "rows": rows}
        for who in ("reference", "same", "own"):
            m[who] = {k: stats([row[who] for row in rows], k) for k in ("accAfter", "asrAfter")}
        summary["models"].append(m)
        fmt = lambda s: f"{s['mean']:.1f} ± {s['sd']:.1f} (n={s['n']})" if s else "-"
        print(f"| {stem} | mean ± sd | ACC {fmt(m['reference']['accAfter'])}, ASR {fmt(m['reference']['asrAfter'])} | "
              f"ACC {fmt(m['same']['accAfter'])}, ASR {fmt(m['same']['asrAfter'])} | ACC {fmt(m['own']['accAfter'])}, ASR {fmt(m['own']['asrAfter'])} |")
    if a.out:
        tmp = a.out + ".tmp"
        with open(tmp, "w") as f:
            json.dump(summary, f, indent=2)
        os.replace(tmp, a.out)
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("check-fixture")
    c.add_argument("fixture")
    c.add_argument("--tol", type=float, default=1e-4)
    r = sub.add_parser("run")
    r.add_argument("--model", required=True)
    r.add_argument("--attack", help="attack spec (default: <model>.attack.json)")
    r.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    r.add_argument("--seeds", type=lambda s: [int(v) for v in s.split(",")], default=[1])
    r.add_argument("--per-class", type=int, default=1)
    r.add_argument("--flip", action="store_true", help="flips in the augmented copies (off by default for grayscale, as ours)")
    r.add_argument("--outer", type=int, default=20)
    r.add_argument("--inner", type=int, default=5)
    r.add_argument("--batch-size", type=int, default=None)
    r.add_argument("--alpha", type=float, default=None)
    r.add_argument("--tau", type=float, default=None, help="L1 budget for a 3x32x32 input (scaled to the input)")
    r.add_argument("--gamma", type=float, default=1e-8)
    r.add_argument("--mask-lr", type=float, default=1e-2)
    r.add_argument("--eval-count", type=int, default=0)
    r.add_argument("--device", default="auto")
    r.add_argument("--threads", type=int, default=0)
    r.add_argument("--out")
    r.add_argument("--save-clean", metavar="DIR", help="write each seed's clean set (augmented copies included) as DIR/<model>-s<seed>.safetensors, for `awm purify --clean FILE --one-shot --augment-copies 0`")
    c = sub.add_parser("compare")
    c.add_argument("--ref", nargs="+", required=True, help="the reference's JSON files (one per model)")
    c.add_argument("--ours-dir", required=True, help="folder with the awm purify reports")
    c.add_argument("--same-prefix", default="calib-ours-")
    c.add_argument("--own-prefix", default="calib-own-")
    c.add_argument("--out")
    a = ap.parse_args()
    if a.cmd == "compare":
        return compare(a)
    if a.cmd == "check-fixture":
        return check_fixture(a.fixture, a.tol)
    one = a.per_class == 1
    a.batch_size = a.batch_size or (32 if one else 128)
    a.alpha = a.alpha if a.alpha is not None else (0.99 if one else 0.9)
    a.tau = a.tau if a.tau is not None else (100.0 if one else 1000.0)
    return run(a)


if __name__ == "__main__":
    sys.exit(main())
