#!/usr/bin/env python3
"""The same steps as `camscope bench`, in PyTorch + pytorch-grad-cam, for BENCHMARKS.md.

    ~/.cache/camscope-venv/bin/python scripts/bench_pytorch.py resnet50 vgg16

Random weights (speed does not depend on them), one 224×224 input, CPU, median of N runs.
"""

import statistics
import sys
import time

import torch
import torchvision
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.guided_backprop import GuidedBackpropReLUModel
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

N = 5


def median_ms(f):
    f()
    times = []
    for _ in range(N):
        t = time.perf_counter()
        f()
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def main():
    torch.set_num_threads(2)
    for name in sys.argv[1:] or ["resnet50"]:
        model = getattr(torchvision.models, name)().eval()
        layer = model.layer4 if name.startswith("res") else model.features[29]
        x = torch.randn(1, 3, 224, 224)
        with torch.no_grad():
            fwd = median_ms(lambda: model(x))
        targets = [ClassifierOutputTarget(3)]
        with GradCAM(model=model, target_layers=[layer]) as cam:
            gradcam = median_ms(lambda: cam(input_tensor=x, targets=targets))
        gb = GuidedBackpropReLUModel(model=model, device="cpu")
        guided = median_ms(lambda: gb(x.clone(), target_category=3))
        print(f"{name}: forward {fwd:.1f} ms, pytorch-grad-cam GradCAM (forward + backward) "
              f"{gradcam:.1f} ms, guided backprop {guided:.1f} ms "
              f"(torch {torch.__version__}, {torch.get_num_threads()} threads)")


if __name__ == "__main__":
    main()
