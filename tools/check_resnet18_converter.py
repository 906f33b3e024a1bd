"""Makes the fixture that checks tools/convert_resnet18.py: random ResNet-18 weights in torchvision's
layout (module names and architecture as torchvision.models.resnet18, written out here so that
torchvision itself is not needed), converted, plus one input and the logits PyTorch computes for it.

    tools/.venv/bin/python tools/check_resnet18_converter.py /tmp/resnet18-check
    RESNET18_CHECK_DIR=/tmp/resnet18-check npm run test:acceptance -- resnet18-converter

The acceptance test loads the converted weights into the project's ResNet-18 and compares logits.
"""
import base64
import json
import sys
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))
from convert_resnet18 import convert, write  # noqa: E402


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)) if stride != 1 or cin != cout else None

    def forward(self, x):
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return self.relu(y + (self.downsample(x) if self.downsample is not None else x))


class ResNet18(nn.Module):
    """torchvision.models.resnet18's modules and forward, parameter names included."""

    def __init__(self, classes: int = 1000):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        widths = [(64, 64, 1), (64, 128, 2), (128, 256, 2), (256, 512, 2)]
        for i, (cin, cout, stride) in enumerate(widths, start=1):
            setattr(self, f"layer{i}", nn.Sequential(BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1)))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512, classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for i in range(1, 5):
            x = getattr(self, f"layer{i}")(x)
        return self.fc(torch.flatten(self.avgpool(x), 1))


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit("usage: check_resnet18_converter.py <output folder>")
    out = Path(sys.argv[1])
    torch.manual_seed(0)
    model = ResNet18()
    # Non-trivial batch-norm statistics, so inference mode is checked, not just the convolutions.
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    model.eval()
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        logits = model(x)[0]
    write(convert(model.state_dict()), out)
    nhwc = x.permute(0, 2, 3, 1).contiguous().numpy().astype("<f4")
    (out / "check.json").write_text(json.dumps({
        "input": base64.b64encode(nhwc.tobytes()).decode(), "shape": [1, 224, 224, 3], "logits": logits.tolist(),
    }) + "\n")
    print(f"converted random ResNet-18 and its logits for one input -> {out}")


if __name__ == "__main__":
    main()
