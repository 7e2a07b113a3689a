"""End-to-end latency per stage of the predictor: random-weight HigherHRNet-W32, ONNX Runtime (CPU here).

    python bench/bench_predictor.py [--size 512] [--repeats 3] [--no-flip] [--onnx path.onnx]

Prints the min and median ms of preprocess / forward / aggregate / decode per image and the share of
post-processing (aggregate + decode) relative to the forward pass. Random weights are scaled to give O(1)
outputs, so the decoder sees hundreds of spurious people per image: a worst case for the decode share.
With the official initialisation (``--official-init``), the maps are ~1e-10, nobody is found, and decode is
close to its floor.
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=512, help="network input short side (default 512)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-flip", action="store_true")
    ap.add_argument("--official-init", action="store_true", help="official std-0.001 init (no detections)")
    ap.add_argument("--onnx", default=None, help="use this .onnx instead of exporting one")
    args = ap.parse_args()

    import torch

    import hrdecode
    from hrdecode import models
    from hrdecode.export import export_onnx

    path = args.onnx
    if path is None:
        torch.manual_seed(0)
        net = models.build_model("higherhrnet_w32")
        if not args.official_init:
            with torch.no_grad():
                for m in net.modules():
                    if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
                        torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                        m.weight.mul_(0.5)
        path = os.path.join(tempfile.mkdtemp(), "w32_random.onnx")
        export_onnx(net, path)
    p = hrdecode.Predictor(path, device="auto", flip=not args.no_flip, input_size=args.size)
    img = (np.random.default_rng(0).random((480, 640, 3)) * 255).astype(np.uint8)
    p(img)  # warm-up
    runs = [p(img) for _ in range(args.repeats)]
    keys = ("preprocess_ms", "forward_ms", "aggregate_ms", "decode_ms", "total_ms")
    print(f"{p!r}, image 640x480, people found: {runs[-1].num_people}")
    # The minimum is the least disturbed run (a shared machine adds noise); the median is also shown.
    for label, agg in (("min", min), ("median", statistics.median)):
        t = {k: agg(r.timings[k] for r in runs) for k in keys}
        post = t["aggregate_ms"] + t["decode_ms"]
        print(f"{label:6s}: " + "  ".join(f"{k[:-3]} {v:.1f} ms" for k, v in t.items()) +
              f"  | post-processing (aggregate + decode) {post:.1f} ms = {100 * post / t['forward_ms']:.1f}% of forward")


if __name__ == "__main__":
    main()
