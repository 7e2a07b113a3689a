"""Benchmark of hrdecode.decode_topdown: 64 person crops of 17x64x48 heatmaps, DARK (and the quarter offset).

Run from the repository root, where hrdecode is installed::

    python bench/topdown.py                 # prints a Markdown table
    python bench/topdown.py --repeats 50

Rows:
  * hrdecode cpu, all threads and one thread;
  * the NumPy implementation of the reference formulas (hrdecode.topdown._reference_decode_topdown, the
    vectorised twin the tests use as oracle);
  * DarkPose / HRNet as their code runs (per-map cv2.GaussianBlur, per-joint Python Taylor step and affine;
    the rewrite in tests/test_topdown.py), when OpenCV is installed.

Inputs: one Gaussian peak per map (sigma 2, sub-pixel centre, amplitude 0.2-1) plus uniform noise 0.02,
float32, seed 0; crop centres and scales random. Each row is timed `--repeats` times (after one warm-up
call); the table gives the median and the minimum wall time of one call for the whole batch. Every
hrdecode output is checked equal to the twin's before timing.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Callable, List, Optional, Tuple

import numpy as np

import hrdecode
from hrdecode import topdown as td

N, K, H, W = 64, 17, 64, 48


def make_inputs(seed: int = 0) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:H, 0:W]
    h = np.empty((N, K, H, W), np.float32)
    for n in range(N):
        for k in range(K):
            cx, cy = rng.uniform(0, W - 1), rng.uniform(0, H - 1)
            g = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / 8.0) * rng.uniform(0.2, 1.0)
            h[n, k] = g + 0.02 * rng.random((H, W))
    c = rng.uniform(50, 600, (N, 2)).astype(np.float32)
    s = rng.uniform(0.3, 3.0, (N, 2)).astype(np.float32)
    return h, c, s


def timeit(fn: Callable[[], object], repeats: int) -> Tuple[float, float]:
    fn()
    ts: List[float] = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts)) * 1e3, float(np.min(ts)) * 1e3


def as_written() -> Optional[Tuple[Callable, Callable, object]]:
    try:
        import cv2  # noqa: F401

        sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
        from test_topdown import asw_darkpose, asw_hrnet  # type: ignore
    except Exception:  # noqa: BLE001 - the row is optional
        return None
    return asw_darkpose, asw_hrnet, cv2


def main(argv: Optional[List[str]] = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--slow-repeats", type=int, default=3, help="repeats of the per-joint Python rows")
    args = ap.parse_args(argv)
    h, c, s = make_inputs()
    threads = hrdecode._C.default_num_threads()
    rows = []

    for method in ("dark", "quarter"):
        twin = td._reference_decode_topdown(h, c, s, method)
        for t in (threads, 1):
            out = td.decode_topdown(h, c, s, method, threads=t)
            assert np.array_equal(out[0], twin[0]) and np.array_equal(out[1], twin[1]), "hrdecode != twin"
        rows.append((method, f"hrdecode cpu ({threads} threads)",
                     *timeit(lambda: td.decode_topdown(h, c, s, method, threads=threads), args.repeats)))
        rows.append((method, "hrdecode cpu (1 thread)",
                     *timeit(lambda: td.decode_topdown(h, c, s, method, threads=1), args.repeats)))
        rows.append((method, "NumPy twin of the reference formulas",
                     *timeit(lambda: td._reference_decode_topdown(h, c, s, method), max(3, args.repeats // 4))))
        aw = as_written()
        if aw is not None:
            asw_darkpose, asw_hrnet, cv2 = aw
            if method == "dark":
                fn = lambda: asw_darkpose(cv2, h, c, s, 11)  # noqa: E731
                name = "DarkPose code as written (cv2 blur, per-joint Python)"
            else:
                fn = lambda: asw_hrnet(cv2, h, c, s, True)  # noqa: E731
                name = "HRNet code as written (per-joint Python)"
            ref = fn()
            px = (s[:, 0].astype(np.float64) * 200 / W)[:, None, None]
            diff = float(np.max(np.abs(td.decode_topdown(h, c, s, method)[0] - ref[0]) / px))
            rows.append((method, name + f" [max diff {diff:.1e} heatmap px]", *timeit(fn, args.slow_repeats)))

    info = hrdecode.build_info()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"64 crops x 17 joints x 64x48 heatmaps, blur kernel 11; hrdecode {info['version']}, "
          f"{info['hardware_threads']} hardware threads, SIMD {info['simd']}, load average {load:.1f}\n")
    print("| method | implementation | median ms | min ms | speed-up vs NumPy twin | vs code as written |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for method in ("dark", "quarter"):
        base = [r for r in rows if r[0] == method and r[1].startswith("NumPy")][0][2]
        aw = [r for r in rows if r[0] == method and "as written" in r[1]]
        for r in rows:
            if r[0] == method:
                vs_aw = f"{aw[0][2] / r[2]:.1f}x" if aw else "-"
                print(f"| {r[0]} | {r[1]} | {r[2]:.2f} | {r[3]:.2f} | {base / r[2]:.1f}x | {vs_aw} |")


if __name__ == "__main__":
    main()
