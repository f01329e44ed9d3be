#!/usr/bin/env python3
"""camscope and PyTorch + pytorch-grad-cam side by side: same machine, same run, rounds
alternating, medians and ratios. Writes the tables of BENCHMARKS.md.

    cargo build --release --no-default-features
    ~/.cache/camscope-venv/bin/python scripts/bench_side_by_side.py \\
        [--camscope target/release/camscope] [--models resnet18,resnet50,vgg16,builtin] \\
        [--rounds 3] [--iterations 5] [--slow-models resnet18,builtin] [--out bench.md]

The CNN zoo's cases: --models convnext_tiny,efficientnet_b0,mobilenet_v3_large,densenet121,
regnet_y_400mf (any torchvision builder name works).

torchvision architectures with random weights (speed does not depend on the values; written to
a temporary .safetensors for camscope), timm's tf_efficientnet_lite0 for the built-in model;
one 224×224 input; PyTorch on as many threads as camscope uses (all cores). "forward" is
inference (torch.no_grad vs camscope's untaped pass, what the perturbation methods run);
"forward, taped" records for a backward pass (autograd on vs camscope's tape, the first step of
every gradient map). A case's number is
the median over rounds of each round's median; the ratio is camscope / PyTorch (< 1: camscope
is faster). Peak RSS is the whole process of a ResNet-50 Grad-CAM run (camscope explain vs a
Python process running pytorch-grad-cam), its VmHWM polled every 5 ms.

`--batch-photos 500 --models none`: `camscope batch` over 500 photos of mixed sizes (Grad-CAM,
an annotated PNG each) against a plain pytorch-grad-cam loop doing the same (PIL decode,
torchvision transform, GradCAM, show_cam_on_image, PNG save), photos/s.

The slow cases run once a round, on --slow-models only:
- Score-CAM at the default layer (pytorch-grad-cam's ScoreCAM, its default batch of 16 masked
  inputs; camscope's `map: Score-CAM`);
- a full faithfulness run of one Grad-CAM map (docs/metrics.md): deletion and insertion curves
  of 50 steps with the blurred photo as baseline, batches of 32 (written here in torch: neither
  pytorch-grad-cam nor torchcam ships these curves), pytorch-grad-cam's
  CamMultImageConfidenceChange and ROADCombined at 10…90 % (its noise 0.01) — camscope's
  `metrics of one map`, the same forward passes.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TQDM_DISABLE", "1")  # ScoreCAM's progress bar

import torch  # noqa: E402
import torchvision
from pytorch_grad_cam import GradCAM, ScoreCAM
from pytorch_grad_cam.metrics.cam_mult_image import CamMultImageConfidenceChange
from pytorch_grad_cam.metrics.road import ROADCombined
from pytorch_grad_cam.guided_backprop import GuidedBackpropReLUModel
from pytorch_grad_cam.utils.model_targets import (ClassifierOutputSoftmaxTarget,
                                                  ClassifierOutputTarget)
from safetensors.torch import save_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PHOTO = os.path.join(ROOT, "assets", "chelsea.png")

# camscope bench's step names for each case.
CASES = {
    "forward": "forward (untaped)",
    "forward, taped": "forward (taped)",
    "Grad-CAM end to end": "Grad-CAM end to end (forward + backward)",
    "guided backprop end to end": "guided backprop end to end (forward + backward)",
    "another class, same photo": "second class, same forward (Grad-CAM)",
}
# Run once a round, on --slow-models only.
SLOW_CASES = {
    "Score-CAM, one map": "map: scorecam",
    "metrics of one map": "metrics of one map (deletion + insertion 50 steps, confidence, ROAD)",
}


def median_ms(f, n):
    f()
    times = []
    for _ in range(n):
        t = time.perf_counter()
        f()
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def torch_model(name):
    if name == "builtin":
        import timm

        return timm.create_model("tf_efficientnet_lite0", pretrained=False).eval()
    model = getattr(torchvision.models, name)(weights=None).eval()
    # pytorch-grad-cam needs the hooked activation not to be overwritten by an in-place ReLU.
    for m in model.modules():
        if isinstance(m, torch.nn.ReLU):
            m.inplace = False
    return model


def target_layer(name, model):
    """Looked up each round: GuidedBackpropReLUModel puts new ReLU modules back into VGG's
    `features`, so a module kept from an earlier round would no longer be in the model."""
    if name == "builtin":
        return model.bn2  # timm EfficientNet: the last activation
    if name.startswith("res"):
        return model.layer4
    if name.startswith("vgg"):
        return model.features[29]
    if name.startswith("regnet"):
        return model.trunk_output
    # DenseNet, MobileNet, EfficientNet, ConvNeXt: the documented `features` (DenseNet's last
    # ReLU is functional and in place; the time is the same either way).
    return model.features


def blurred(x):
    """camscope's blur baseline: a Gaussian, σ = 5 px, 11 taps, edges clamped."""
    t = torch.arange(-5, 6, dtype=torch.float32)
    k = torch.exp(-t * t / 50.0)
    k = k / k.sum()
    c = x.shape[1]
    h = torch.nn.functional.pad(x, (5, 5, 0, 0), mode="replicate")
    h = torch.nn.functional.conv2d(h, k.view(1, 1, 1, 11).repeat(c, 1, 1, 1), groups=c)
    v = torch.nn.functional.pad(h, (0, 0, 5, 5), mode="replicate")
    return torch.nn.functional.conv2d(v, k.view(1, 1, 11, 1).repeat(c, 1, 1, 1), groups=c)


def deletion_insertion(model, x, cam, cls, steps=50, batch=32):
    """Petsiuk et al.'s curves: pixels by the map, highest first, removed from the photo
    (deletion) or put into the blurred photo (insertion); the class probability at each of
    steps + 1 points; both areas by the trapezoid rule."""
    order = torch.argsort(torch.from_numpy(cam).flatten(), descending=True, stable=True)
    base = blurred(x)
    hw = order.numel()
    areas = []
    for start, end in ((x, base), (base, x)):
        inputs = []
        for i in range(steps + 1):
            k = (hw * i + steps // 2) // steps
            m = torch.zeros(hw)
            m[order[:k]] = 1.0
            m = m.view(1, 1, *x.shape[2:])
            inputs.append(start * (1 - m) + end * m)
        probs = []
        with torch.no_grad():
            for b in range(0, len(inputs), batch):
                out = model(torch.cat(inputs[b:b + batch]))
                probs.append(torch.softmax(out, dim=1)[:, cls])
        p = torch.cat(probs)
        areas.append(float(((p[1:] + p[:-1]) / 2).sum() / steps))
    return areas


def torch_slow_round(name, model):
    x = torch.randn(1, 3, 224, 224)
    out = {}
    layer = target_layer(name, model)
    with ScoreCAM(model=model, target_layers=[layer]) as cam:
        t = time.perf_counter()
        cam(input_tensor=x, targets=[ClassifierOutputTarget(3)])
        out["Score-CAM, one map"] = (time.perf_counter() - t) * 1e3
    with GradCAM(model=model, target_layers=[layer]) as cam:
        m = cam(input_tensor=x, targets=[ClassifierOutputTarget(3)])
    targets = [ClassifierOutputSoftmaxTarget(3)]
    t = time.perf_counter()
    deletion_insertion(model, x, m[0], 3)
    CamMultImageConfidenceChange()(x, m, targets, model)
    ROADCombined(percentiles=[10, 20, 30, 40, 50, 60, 70, 80, 90])(x, m, targets, model)
    out["metrics of one map"] = (time.perf_counter() - t) * 1e3
    return out


def torch_round(name, model, n):
    x = torch.randn(1, 3, 224, 224)
    out = {}
    with torch.no_grad():
        out["forward"] = median_ms(lambda: model(x), n)
    # With autograd recording (what every gradient method starts with), as camscope's taped pass.
    out["forward, taped"] = median_ms(lambda: model(x), n)
    layer = target_layer(name, model)
    targets = [ClassifierOutputTarget(3)]
    with GradCAM(model=model, target_layers=[layer]) as cam:
        out["Grad-CAM end to end"] = median_ms(lambda: cam(input_tensor=x, targets=targets), n)
    # pytorch-grad-cam has no cache: another class is another forward and backward.
    out["another class, same photo"] = out["Grad-CAM end to end"]
    gb = GuidedBackpropReLUModel(model=model, device="cpu")
    out["guided backprop end to end"] = median_ms(lambda: gb(x.clone(), target_category=3), n)
    return out


def camscope_round(exe, model_path, n, slow):
    methods = "gradcam,scorecam" if slow else "gradcam"
    args = [exe, "bench", "--iterations", str(n), "--methods", methods, "--json"]
    if model_path:
        args += ["--model", model_path]
    r = subprocess.run(args, capture_output=True, text=True, check=True)
    data = json.loads(r.stdout)
    steps = {s["step"]: s["median_ms"] for s in data["steps"]}
    out = {case: steps[step] for case, step in CASES.items()}
    if slow:
        out.update({case: steps[step] for case, step in SLOW_CASES.items()})
    out["GFLOP/s"] = data["forward_gflop_per_s"]
    return out


def make_photos(folder, n):
    """n photos of mixed sizes (400×300 … 1000×750 JPEGs: a gradient and a disc each)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    sizes = [(400, 300), (640, 480), (1000, 750), (500, 500), (800, 600)]
    for i in range(n):
        w, h = sizes[i % len(sizes)]
        y, x = np.mgrid[0:h, 0:w]
        img = np.stack([x * 255 // w, y * 255 // h, np.full_like(x, i * 37 % 255)], -1)
        img = img.astype(np.uint8)
        cx, cy, r = rng.integers(0, w), rng.integers(0, h), rng.integers(30, 150)
        img[(x - cx) ** 2 + (y - cy) ** 2 < r * r] = rng.integers(0, 255, 3)
        Image.fromarray(img).save(os.path.join(folder, f"p{i:04d}.jpg"), quality=85)


def torch_batch_loop(model, photos, out):
    """A plain pytorch-grad-cam loop doing what `camscope batch` does: decode (PIL), the
    model's transform (resize 256, crop 224, normalize), Grad-CAM of the top-1 class at the
    last block, the map resized to the whole photo and drawn with show_cam_on_image, a PNG
    saved per photo. Seconds, model construction excluded (camscope's time includes its
    model loading)."""
    import cv2
    import numpy as np
    from PIL import Image
    from pytorch_grad_cam.utils.image import show_cam_on_image
    from torchvision import transforms

    tf = transforms.Compose([
        transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(),
        transforms.Normalize([0.498, 0.498, 0.498], [0.502, 0.502, 0.502]),
    ])
    t = time.perf_counter()
    with GradCAM(model=model, target_layers=[target_layer("builtin", model)]) as cam:
        for p in photos:
            img = Image.open(p).convert("RGB")
            gray = cam(input_tensor=tf(img).unsqueeze(0), targets=None)[0]
            rgb = np.asarray(img, dtype=np.float32) / 255
            gray = cv2.resize(gray, (rgb.shape[1], rgb.shape[0]))
            vis = show_cam_on_image(rgb, gray, use_rgb=True)
            Image.fromarray(vis).save(os.path.join(out, os.path.basename(p) + ".png"))
    return time.perf_counter() - t


def batch_case(camscope, n, rounds, say):
    """photos/s of `camscope batch` against the pytorch-grad-cam loop, same photos, rounds
    alternating; fresh output folders each round."""
    model = torch_model("builtin")
    with tempfile.TemporaryDirectory() as tmp:
        folder = os.path.join(tmp, "photos")
        os.mkdir(folder)
        make_photos(folder, n)
        photos = sorted(os.path.join(folder, f) for f in os.listdir(folder))
        ours, theirs = [], []
        for r in range(rounds):
            out = os.path.join(tmp, f"cs{r}")
            t = time.perf_counter()
            subprocess.run([camscope, "batch", "--images", folder, "--out", out], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            ours.append(n / (time.perf_counter() - t))
            out = os.path.join(tmp, f"pt{r}")
            os.mkdir(out)
            theirs.append(n / torch_batch_loop(model, photos, out))
        c, t = statistics.median(ours), statistics.median(theirs)
        say(f"| builtin | batch of {n} photos, Grad-CAM + annotated PNG (photos/s) | {c:.1f} | "
            f"{t:.1f} | {c / t:.2f} (higher: faster) |")


def peak_rss_mib(args):
    """Peak resident memory of a child process, in MiB: its VmHWM, read until it exits (the
    rusage of a child forked from this large Python process would count the fork's pages)."""
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = 0
    while p.poll() is None:
        try:
            with open(f"/proc/{p.pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]))
        except (FileNotFoundError, ProcessLookupError):
            pass
        time.sleep(0.005)
    if p.returncode != 0:
        raise RuntimeError(f"{args[0]} failed")
    return peak / 1024


def main():
    ap = argparse.ArgumentParser()
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    ap.add_argument("--camscope", default=os.path.join(target, "release", "camscope"))
    ap.add_argument("--models", default="resnet18,resnet50,vgg16,builtin")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--iterations", type=int, default=5)
    ap.add_argument("--slow-models", default="resnet18,builtin",
                    help="models that also run the Score-CAM and metrics cases")
    ap.add_argument("--batch-photos", type=int, default=0,
                    help="also `camscope batch` over this many photos against a "
                         "pytorch-grad-cam loop (photos/s; 500 in BENCHMARKS.md)")
    ap.add_argument("--out")
    a = ap.parse_args()
    threads = os.cpu_count()
    torch.set_num_threads(threads)
    lines = []
    say = lambda s="": (print(s, flush=True), lines.append(s))  # noqa: E731
    say(f"Machine: {platform.processor() or platform.machine()}, {threads} cores; "
        f"{platform.platform()}; torch {torch.__version__} ({torch.get_num_threads()} threads); "
        f"{time.strftime('%Y-%m-%d')}")
    say()
    say("| model | case (median ms) | camscope | PyTorch / pytorch-grad-cam | ratio |")
    say("|---|---|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        if a.models == "none":
            a.models = ""
        rss_model = None
        for name in filter(None, a.models.split(",")):
            model = torch_model(name)
            path = None
            if name != "builtin":
                path = os.path.join(tmp, f"{name}.safetensors")
                save_file({k: v.contiguous() for k, v in model.state_dict().items()}, path)
                if name == "resnet50":
                    rss_model = path
            slow = name in a.slow_models.split(",")
            ours, theirs = [], []
            for _ in range(a.rounds):
                ours.append(camscope_round(a.camscope, path, a.iterations, slow))
                r = torch_round(name, model, a.iterations)
                if slow:
                    r.update(torch_slow_round(name, model))
                theirs.append(r)
            for case in list(CASES) + (list(SLOW_CASES) if slow else []):
                c = statistics.median(r[case] for r in ours)
                t = statistics.median(r[case] for r in theirs)
                say(f"| {name} | {case} | {c:.1f} | {t:.1f} | {c / t:.2f} |")
            gf = statistics.median(r["GFLOP/s"] for r in ours)
            say(f"| {name} | camscope forward GFLOP/s | {gf:.0f} | | |")
        if rss_model:
            ours = peak_rss_mib([a.camscope, "explain", "--model", rss_model, "--image", PHOTO,
                                 "--method", "gradcam"])
            script = (
                "import torch, torchvision\n"
                "from safetensors.torch import load_file\n"
                "from pytorch_grad_cam import GradCAM\n"
                "from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget\n"
                "m = torchvision.models.resnet50(weights=None).eval()\n"
                f"m.load_state_dict(load_file({rss_model!r}))\n"
                "with GradCAM(model=m, target_layers=[m.layer4]) as cam:\n"
                "    cam(input_tensor=torch.randn(1, 3, 224, 224),"
                " targets=[ClassifierOutputTarget(3)])\n"
            )
            theirs = peak_rss_mib([sys.executable, "-c", script])
            say(f"| resnet50 | peak RSS of a Grad-CAM run, whole process (MiB) | {ours:.0f} | "
                f"{theirs:.0f} | {ours / theirs:.2f} |")
    if a.batch_photos:
        batch_case(a.camscope, a.batch_photos, a.rounds, say)
    if a.out:
        with open(a.out, "w") as f:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
