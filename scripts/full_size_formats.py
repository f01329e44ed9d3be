#!/usr/bin/env python3
"""Full-size timm / transformers checkpoints against PyTorch, once, by hand (docs/models.md,
"Full-size check"). Not a test: the files are 50-550 MB each and need torch.

    cargo build --release --no-default-features
    ~/.cache/camscope-venv/bin/python scripts/full_size_formats.py /tmp/full [NAME ...]

Each model is made by the library's constructor with random weights and randomized BatchNorm
statistics, saved with save_file(state_dict) (+ config.json for transformers), and camscope's
logits for one random 224x224 input are compared with PyTorch's (max |diff| / max |logit|), and
with PyTorch's float64 logits, beside PyTorch's own float32-vs-float64 gap: a random deep
network can be ill-conditioned in float32, and then no float32 answer is the reference.
"""

import copy
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
# Saved with timm's config.json (save_config_for_hf), as the Hub ships them: the EfficientNet
# family's activations and padding follow its architecture name.
TIMM_WITH_CONFIG = ["densenet121", "convnext_tiny", "efficientnet_b0", "efficientnet_b3",
                    "tf_efficientnet_b0", "efficientnetv2_s", "tf_efficientnetv2_s",
                    "efficientnet_lite0", "mobilenetv2_100", "mobilenetv3_large_100",
                    "mobilenetv3_small_100", "regnety_004", "regnetx_002", "regnety_032"]
HF = {
    "hf_resnet50": ResNetConfig(),
    "hf_resnet18": ResNetConfig(layer_type="basic", hidden_sizes=[64, 128, 256, 512],
                                depths=[2, 2, 2, 2]),
}


def main(out, only):
    camscope = os.environ.get("CAMSCOPE", os.path.join(
        os.environ.get("CARGO_TARGET_DIR", os.path.join(HERE, "..", "target")),
        "release", "camscope"))
    os.makedirs(out, exist_ok=True)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(1, 3, 224, 224, generator=gen)
    np.save(os.path.join(out, "x.npy"), x.numpy())
    models = [(n, None) for n in TIMM] + [(n, "timm") for n in TIMM_WITH_CONFIG]
    models += list(HF.items())
    for name, cfg in models:
        if only and name not in only:
            continue
        if cfg is None or cfg == "timm":
            m = timm.create_model(name, pretrained=False)
        else:
            m = ResNetForImageClassification(cfg).eval()
        randomize_bn(m, gen)
        m.eval()
        d = os.path.join(out, name)
        os.makedirs(d, exist_ok=True)
        path = os.path.join(d, "model.safetensors")
        save_weights(m, path, torch.float32)
        hf = cfg is not None and cfg != "timm"
        if hf:
            cfg.save_pretrained(d)
        elif cfg == "timm":
            from timm.models._hub import save_config_for_hf
            save_config_for_hf(m, os.path.join(d, "config.json"))
        with torch.no_grad():
            y = m(x)
            # PyTorch's own float32 against float64: where random weights make the logits
            # ill-conditioned (a deep net whose activations explode), float32 cannot arbitrate.
            y64 = copy.deepcopy(m).double()(x.double())
        want = (y.logits if hf else y)[0].numpy()
        want64 = (y64.logits if hf else y64)[0].numpy()
        cond = np.abs(want - want64).max() / np.abs(want64).max()
        run = subprocess.run([camscope, "explain", "--model", path, "--input-npy",
                              os.path.join(out, "x.npy"), "--json", "--top-k", "100000"],
                             capture_output=True, text=True)
        if run.returncode != 0:
            print(f"{name:20s} FAILED: {run.stderr.strip()}")
            continue
        o = json.loads(run.stdout)
        err = max(abs(p["logit"] - want[p["class"]]) for p in o["top_k"]) / np.abs(want).max()
        err64 = max(abs(p["logit"] - want64[p["class"]]) for p in o["top_k"]) / np.abs(want64).max()
        note = "  (ill-conditioned in float32)" if cond > 1e-4 else ""
        print(f"{name:22s} {o['architecture']:45s} {err:.1e}   torch f32 vs f64 {cond:.1e}   "
              f"camscope vs f64 {err64:.1e}{note}")
        os.remove(path)


if __name__ == "__main__":
    # Optional names after the folder: only those models.
    main(sys.argv[1] if len(sys.argv) > 1 else "/tmp/camscope-full-size", set(sys.argv[2:]))
