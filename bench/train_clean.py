"""A clean (not backdoored) ResNet-18 w16 on Fashion-MNIST, trained in PyTorch by the recipe of the two backdoored
models in models/ (models/README.md: 4 epochs on the full training set, SGD lr 0.05, momentum 0.9, weight
decay 5e-4, cosine schedule, batch 128, no augmentation), only without poisoning. It is the reference for checks that
must find nothing on a clean model, such as AWM+'s suspect search (`npm run bench suspect-search`). Never part of
`npm test`; about 15 minutes on one CPU thread here.

  /usr/bin/python3 bench/train_clean.py --out models/fmnist_resnet18w16_clean.safetensors
"""
import argparse
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from awm_reference import read_idx, write_safetensors  # noqa: E402
from torch_interop import ResNet18  # noqa: E402


def load(data_dir, split):
    x = read_idx(os.path.join(data_dir, f"{split}-images-idx3-ubyte.gz")).astype(np.float32)[:, None] / 255.0
    y = read_idx(os.path.join(data_dir, f"{split}-labels-idx1-ubyte.gz")).astype(np.int64)
    return torch.from_numpy(x), torch.from_numpy(y)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    x, y = load(a.data_dir, "train")
    tx, ty = load(a.data_dir, "t10k")
    net = ResNet18(1, 10, a.width)
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, a.epochs * math.ceil(len(x) / 128))
    t0 = time.time()
    for epoch in range(a.epochs):
        net.train()
        perm = torch.randperm(len(x))
        for i in range(0, len(x), 128):
            idx = perm[i : i + 128]
            loss = F.cross_entropy(net(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        net.eval()
        with torch.no_grad():
            acc = sum((net(tx[i : i + 1000]).argmax(1) == ty[i : i + 1000]).sum().item() for i in range(0, len(tx), 1000)) / len(tx)
        print(f"epoch {epoch + 1}/{a.epochs}: last batch loss {loss.item():.3f}, test accuracy {100 * acc:.2f} %, {time.time() - t0:.0f} s", flush=True)
    # The key names and tensors of the models in models/: no num_batches_tracked.
    write_safetensors(a.out, {k: v.detach().float() for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")})
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
