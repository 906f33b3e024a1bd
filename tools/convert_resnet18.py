"""Converts torchvision ResNet-18 weights into the tfjs weights folder the classifier starts from.

Offline, on weights the user has (e.g. torchvision's IMAGENET1K_V1 `resnet18-f37072fd.pth`):

    tools/.venv/bin/python tools/convert_resnet18.py resnet18-f37072fd.pth out/resnet18-imagenet
    # then, in an experiment config: classifier: { initialWeights: out/resnet18-imagenet }

It writes `model.json` (a tfjs weights manifest) and one float32 shard, with the names of the
project's ResNet-18 layers (engines/classifier/models.ts): conv1/bn1 -> stem_conv/stem_bn,
layerS.B.conv1/bn1 -> layerS_B_a_conv/bn, conv2/bn2 -> _b_, downsample.0/1 -> _down_conv/_down_bn,
fc -> classifier. Convolutions go from PyTorch's [out, in, kh, kw] to HWIO, the head from [out, in]
to [in, out]. The classifier copies every tensor whose name and shape match, so a head of another
width (6 BAR classes, not 1,000) is left to its own initialisation. Inputs must be normalised with
ImageNet's statistics (`classifier.normalize: imagenet`, the default with initial weights) and the
model built with symmetric padding (what the stages build), or the logits differ.

tools/check_resnet18_converter.py checks it: random torchvision-layout weights in, the same logits
out of the tfjs model (test/acceptance/resnet18-converter.test.ts).
"""
import json
import re
import sys
from pathlib import Path

import numpy as np
import torch

BN = {"weight": "gamma", "bias": "beta", "running_mean": "moving_mean", "running_var": "moving_variance"}


def layer_name(module: str) -> str | None:
    """The project's layer name for a torchvision module path, or None for what it has no layer for."""
    if module == "conv1":
        return "stem_conv"
    if module == "bn1":
        return "stem_bn"
    if module == "fc":
        return "classifier"
    m = re.fullmatch(r"layer(\d)\.(\d)\.(conv1|bn1|conv2|bn2|downsample\.0|downsample\.1)", module)
    if not m:
        return None
    stage, block, part = m.groups()
    suffix = {"conv1": "a_conv", "bn1": "a_bn", "conv2": "b_conv", "bn2": "b_bn", "downsample.0": "down_conv", "downsample.1": "down_bn"}[part]
    return f"layer{stage}_{block}_{suffix}"


def convert(state_dict: dict[str, torch.Tensor]) -> list[tuple[str, np.ndarray]]:
    out: list[tuple[str, np.ndarray]] = []
    for key, tensor in state_dict.items():
        module, _, param = key.rpartition(".")
        if param == "num_batches_tracked":
            continue
        layer = layer_name(module)
        if layer is None:
            raise SystemExit(f"{key}: not a torchvision ResNet-18 parameter")
        value = tensor.detach().cpu().float().numpy()
        if layer.endswith("_bn"):
            out.append((f"{layer}/{BN[param]}", value))
        elif layer == "classifier":
            out.append((f"{layer}/{'kernel' if param == 'weight' else 'bias'}", value.T if param == "weight" else value))
        else:
            if param != "weight":
                raise SystemExit(f"{key}: the project's convolutions have no bias")
            out.append((f"{layer}/kernel", value.transpose(2, 3, 1, 0)))
    return out


def write(weights: list[tuple[str, np.ndarray]], out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    shard = "group1-shard1of1.bin"
    specs = [{"name": name, "shape": list(value.shape), "dtype": "float32"} for name, value in weights]
    with open(out_dir / shard, "wb") as f:
        for _, value in weights:
            f.write(np.ascontiguousarray(value, dtype="<f4").tobytes())
    manifest = {"format": "diffubias-weights", "generatedBy": "tools/convert_resnet18.py", "modelTopology": None,
                "weightsManifest": [{"paths": [shard], "weights": specs}]}
    (out_dir / "model.json").write_text(json.dumps(manifest, indent=1) + "\n")


def main() -> None:
    if len(sys.argv) != 3:
        raise SystemExit("usage: convert_resnet18.py <torchvision resnet18 .pth> <output folder>")
    state = torch.load(sys.argv[1], map_location="cpu", weights_only=True)
    if "state_dict" in state:
        state = state["state_dict"]
    weights = convert(state)
    write(weights, Path(sys.argv[2]))
    print(f"{len(weights)} tensors ({sum(v.size for _, v in weights):,} values) -> {sys.argv[2]}")


if __name__ == "__main__":
    main()
