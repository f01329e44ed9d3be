#!/usr/bin/env python3
"""Full-size timm / transformers checkpoints against PyTorch, once, by hand (docs/models.md,
"Full-size check"). Not a test: the files are 50-550 MB each and need torch.

    cargo build --release --no-default-features
    ~/.cache/camscope-venv/bin/python scripts/full_size_formats.py /tmp/full

Each model is made by the library's constructor with random weights and randomized BatchNorm
statistics, saved with save_file(state_dict) (+ config.json for transformers), and camscope's
logits for one random 224x224 input are compared with PyTorch's (max |diff| / max |logit|).
"""

import json
import os
import subprocess
import sys

import numpy as np
import timm
import torch
from transformers import ResNetConfig, ResNetForImageClassification

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "fixtures"))
from make_fixtures import randomize_bn, save_weights  # noqa: E402

TIMM = ["resnet18d", "resnet50d", "resnet101d", "resnet50t", "seresnet50", "seresnext26d_32x4d",
        "resnetv2_18", "resnetv2_50", "resnetv2_50d", "vgg11", "vgg16_bn"]
HF = {
    "hf_resnet50": ResNetConfig(),
    "hf_resnet18": ResNetConfig(layer_type="basic", hidden_sizes=[64, 128, 256, 512],
                                depths=[2, 2, 2, 2]),
}


def main(out):
    camscope = os.environ.get("CAMSCOPE", os.path.join(
        os.environ.get("CARGO_TARGET_DIR", os.path.join(HERE, "..", "target")),
        "release", "camscope"))
    os.makedirs(out, exist_ok=True)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(1, 3, 224, 224, generator=gen)
    np.save(os.path.join(out, "x.npy"), x.numpy())
    models = [(n, timm.create_model(n, pretrained=False), None) for n in TIMM]
    for n, cfg in HF.items():
        h = ResNetForImageClassification(cfg).eval()
        models.append((n, h, cfg))
    for name, m, cfg in models:
        randomize_bn(m, gen)
        m.eval()
        d = os.path.join(out, name)
        os.makedirs(d, exist_ok=True)
        path = os.path.join(d, "model.safetensors")
        save_weights(m, path, torch.float32)
        if cfg is not None:
            cfg.save_pretrained(d)
        with torch.no_grad():
            y = m(x)
        want = (y.logits if cfg is not None else y)[0].numpy()
        run = subprocess.run([camscope, "explain", "--model", path, "--input-npy",
                              os.path.join(out, "x.npy"), "--json", "--top-k", "100000"],
                             capture_output=True, text=True)
        if run.returncode != 0:
            print(f"{name:20s} FAILED: {run.stderr.strip()}")
            continue
        o = json.loads(run.stdout)
        err = max(abs(p["logit"] - want[p["class"]]) for p in o["top_k"]) / np.abs(want).max()
        print(f"{name:20s} {o['architecture']:45s} {err:.1e}")
        os.remove(path)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/tmp/camscope-full-size")
