#!/usr/bin/env python3
"""PyTorch interoperability check, PyTorch's half (run after `npm run bench torch-interop`).

For every `<name>.io.safetensors` in DIR: builds the architecture named in the model file's metadata
(resnet18, preact-resnet18, small-cnn; widths, channels and classes from the weights' shapes) as plain
torch.nn modules, loads `<name>.safetensors` with load_state_dict(strict=True), and compares its eval-mode
and train-mode logits with ours. Prints a Markdown table and writes DIR/torch-interop.json; exits 1 on any
strict-load failure or a relative error above --tol.

Needs torch and numpy only: the safetensors files are read here by hand (8-byte header length, JSON
header, raw little-endian data), so the `safetensors` package is not required.
"""
import argparse
import json
import os
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

DTYPES = {"F32": np.float32, "F64": np.float64, "F16": np.float16, "I64": np.int64, "I32": np.int32, "U8": np.uint8}


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    meta = header.pop("__metadata__", {}) or {}
    base = 8 + n
    out = {}
    for key, info in header.items():
        start, end = info["data_offsets"]
        arr = np.frombuffer(raw[base + start : base + end], dtype=DTYPES[info["dtype"]]).reshape(info["shape"])
        out[key] = torch.from_numpy(arr.copy())
    return out, meta


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class PreActBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False))

    def forward(self, x):
        out = F.relu(self.bn1(x))
        sc = self.shortcut(out) if hasattr(self, "shortcut") else x
        out = self.conv2(F.relu(self.bn2(self.conv1(out))))
        return out + sc


def stages(block, w):
    layers, cin = [], w
    for i in range(4):
        cout = w * 2**i
        first = 1 if i == 0 else 2
        layers.append(nn.Sequential(block(cin, cout, first), block(cout, cout, 1)))
        cin = cout
    return layers


class ResNet18(nn.Module):
    """The CIFAR ResNet-18 of ANP/AWM/BackdoorBox (test/fixtures/README.md)."""

    def __init__(self, cin, classes, w):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, w, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(w)
        self.layer1, self.layer2, self.layer3, self.layer4 = stages(BasicBlock, w)
        self.linear = nn.Linear(8 * w, classes)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        for layer in (self.layer1, self.layer2, self.layer3, self.layer4):
            out = layer(out)
        return self.linear(torch.flatten(F.adaptive_avg_pool2d(out, 1), 1))


class PreActResNet18(nn.Module):
    """BackdoorBench's PreAct-ResNet18 (its key names: a final `bn`, 1x1 shortcut without BN)."""

    def __init__(self, cin, classes, w):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, w, 3, 1, 1, bias=False)
        self.layer1, self.layer2, self.layer3, self.layer4 = stages(PreActBlock, w)
        self.linear = nn.Linear(8 * w, classes)
        self.bn = nn.BatchNorm2d(8 * w)

    def forward(self, x):
        out = self.conv1(x)
        for layer in (self.layer1, self.layer2, self.layer3, self.layer4):
            out = layer(out)
        return self.linear(torch.flatten(F.adaptive_avg_pool2d(F.relu(self.bn(out)), 1), 1))


class SmallCNN(nn.Module):
    """src/nn/small-cnn.ts, written out in PyTorch."""

    def __init__(self, cin, classes, w, side, hidden):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, w, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(w)
        self.conv2 = nn.Conv2d(w, 2 * w, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(2 * w)
        self.fc1 = nn.Linear(2 * w * side * side, hidden)
        self.fc2 = nn.Linear(hidden, classes)

    def forward(self, x):
        out = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        out = F.max_pool2d(F.relu(self.bn2(self.conv2(out))), 2)
        return self.fc2(F.relu(self.fc1(torch.flatten(out, 1))))


def build(state, meta, input_hw):
    arch = meta.get("arch")
    if arch is None:
        arch = "preact-resnet18" if "bn.weight" in state else "small-cnn" if "fc1.weight" in state else "resnet18"
    w, cin = state["conv1.weight"].shape[:2]
    if arch == "resnet18":
        return arch, ResNet18(cin, state["linear.weight"].shape[0], w)
    if arch == "preact-resnet18":
        return arch, PreActResNet18(cin, state["linear.weight"].shape[0], w)
    if arch == "small-cnn":
        side = input_hw // 4
        return arch, SmallCNN(cin, state["fc2.weight"].shape[0], w, side, state["fc1.weight"].shape[0])
    raise ValueError(f"unknown architecture {arch!r}")


def rel_err(ours, theirs):
    return float((ours - theirs).abs().max() / theirs.abs().max().clamp_min(1e-12))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dir")
    ap.add_argument("--tol", type=float, default=1e-4, help="largest allowed max|ours - torch| / max|torch|")
    args = ap.parse_args()
    rows, ok = [], True
    for fn in sorted(os.listdir(args.dir)):
        if not fn.endswith(".io.safetensors"):
            continue
        name = fn[: -len(".io.safetensors")]
        io, _ = read_safetensors(os.path.join(args.dir, fn))
        state, meta = read_safetensors(os.path.join(args.dir, name + ".safetensors"))
        row = {"model": name, "keys": len(state)}
        try:
            arch, net = build(state, meta, io["input"].shape[-1])
            row["arch"] = arch
            result = net.load_state_dict(state, strict=True)
            row["strict_load"] = "ok" if not (result.missing_keys or result.unexpected_keys) else str(result)
            x = io["input"].float()
            with torch.no_grad():
                net.eval()
                row["eval_rel_err"] = rel_err(io["logits_eval"], net(x))
                net.train()
                row["train_rel_err"] = rel_err(io["logits_train"], net(x))
            row["pass"] = row["strict_load"] == "ok" and max(row["eval_rel_err"], row["train_rel_err"]) <= args.tol
        except Exception as e:  # a strict-load failure names the keys; report it and go on
            row["error"] = f"{type(e).__name__}: {e}"
            row["pass"] = False
        ok &= row["pass"]
        rows.append(row)
    print(f"PyTorch {torch.__version__}, tolerance {args.tol:g} (max abs error / max abs logit)")
    print("| model | arch | keys | load_state_dict(strict=True) | eval logits rel. err. | train logits rel. err. | pass |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        err = r.get("error")
        print(f"| {r['model']} | {r.get('arch', '?')} | {r['keys']} | {err or r['strict_load']} | "
              f"{r.get('eval_rel_err', float('nan')):.2e} | {r.get('train_rel_err', float('nan')):.2e} | {'yes' if r['pass'] else 'NO'} |")
    with open(os.path.join(args.dir, "torch-interop.json"), "w") as f:
        json.dump({"torch": torch.__version__, "tolerance": args.tol, "rows": rows}, f, indent=2)
    if not rows:
        print("no <name>.io.safetensors files found: run `npm run bench torch-interop` first", file=sys.stderr)
        return 1
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
