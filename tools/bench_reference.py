"""PyTorch CPU on the classifier benchmarks' shapes, side by side with `npx diffubias bench`, in one run.

The machine is shared and noisy, so the two are interleaved (ours, PyTorch, ours, PyTorch, ...) and
the table reports medians and the ratio ours / PyTorch. The shapes are those of cli/bench.ts
(CLASSIFIER_BENCH_SHAPES): LfF's 3x100 MLP on 28x28x3 with GCE + Adam at batch 256, ResNet-18 with
the 3x3 CIFAR stem at 32 px, batch 64; inference at batch 512 (MLP) and 256 (ResNet-18).

    tools/.venv/bin/python tools/bench_reference.py [--rounds 3] [--only train.mlp.cmnist,...]

Needs torch (tools/requirements-bench.txt). Python stays here: nothing in the product calls it.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
SHAPES = {
    "mlp": {"input": (3, 28, 28), "classes": 10, "train_batch": 256, "train_steps": 200, "infer_batch": 512, "infer_steps": 100},
    "resnet18": {"input": (3, 32, 32), "classes": 10, "train_batch": 64, "train_steps": 3, "infer_batch": 256, "infer_steps": 3},
}
NAMES = {"train.mlp.cmnist": ("mlp", "train"), "infer.mlp.cmnist": ("mlp", "infer"),
         "train.resnet18.32px": ("resnet18", "train"), "infer.resnet18.32px": ("resnet18", "infer")}


def mlp(classes):
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 28 * 28, 100), nn.ReLU(), nn.Linear(100, 100), nn.ReLU(),
                         nn.Linear(100, 100), nn.ReLU(), nn.Linear(100, classes))


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.a = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn_a = nn.BatchNorm2d(cout)
        self.b = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn_b = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn_a(self.a(x)))
        y = self.bn_b(self.b(y))
        return F.relu(y + (self.down(x) if self.down is not None else x))


def resnet18(classes):
    layers = [nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU()]
    cin = 64
    for cout, stride in [(64, 1), (128, 2), (256, 2), (512, 2)]:
        layers += [Block(cin, cout, stride), Block(cout, cout, 1)]
        cin = cout
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, classes)]
    return nn.Sequential(*layers)


def gce(logits, labels, q=0.7):
    p = F.softmax(logits, dim=1).gather(1, labels[:, None]).squeeze(1)
    return ((1 - p ** q) / q).mean()


def torch_throughput(arch, kind):
    s = SHAPES[arch]
    torch.manual_seed(0)
    model = mlp(s["classes"]) if arch == "mlp" else resnet18(s["classes"])
    batch = s[f"{kind}_batch"]
    steps = s[f"{kind}_steps"]
    x = torch.rand(batch, *s["input"])
    y = torch.arange(batch) % s["classes"]
    if kind == "train":
        model.train()
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)

        def step():
            opt.zero_grad(set_to_none=True)
            loss = gce(model(x), y)
            loss.backward()
            opt.step()
            return loss
    else:
        model.eval()

        def step():
            with torch.no_grad():
                return model(x)
    for _ in range(3 if kind == "train" else 1):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        out = step()
    float(out.sum())
    return batch * steps / (time.perf_counter() - start)


def ours(names):
    cmd = ["node", str(ROOT / "bin" / "diffubias.js"), "bench", "--only", ",".join(names)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True)
    lines = [json.loads(l) for l in proc.stdout.splitlines() if l.startswith("{")]
    return {l["name"]: l for l in lines}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--only", default=",".join(NAMES))
    args = ap.parse_args()
    names = args.only.split(",")
    torch.set_num_threads(os.cpu_count() or 1)
    mine = {n: [] for n in names}
    ref = {n: [] for n in names}
    engine = {}
    for r in range(args.rounds):
        got = ours(names)
        for n in names:
            mine[n].append(got[n]["images_per_s"])
            # Inference names its own engine (onnxruntime for the MLP); training runs on the tfjs backend.
            engine[n] = got[n].get("inference", got[n]["backend"])
        for n in names:
            ref[n].append(torch_throughput(*NAMES[n]))
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)
    print(f"\nimages/s, median of {args.rounds} interleaved rounds; "
          f"PyTorch {torch.__version__} CPU, {torch.get_num_threads()} threads\n")
    print("| benchmark | batch | ours on | ours | PyTorch | ours / PyTorch |")
    print("|---|---|---|---|---|---|")
    for n in names:
        arch, kind = NAMES[n]
        a, b = statistics.median(mine[n]), statistics.median(ref[n])
        print(f"| `{n}` | {SHAPES[arch][kind + '_batch']} | {engine[n]} | {a:,.0f} | {b:,.0f} | {a / b:.2f}x |")


if __name__ == "__main__":
    main()
