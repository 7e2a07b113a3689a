"""Decode latency of the CUDA backend, for users who have a GPU (no machine of this project has one).

    python bench/gpu_latency.py                 # CUDA backend, inputs already on the device (torch or CuPy)
    python bench/gpu_latency.py --host-inputs   # CUDA backend, NumPy inputs (adds the upload)
    python bench/gpu_latency.py --backend emu --quick   # the same script on the emulated kernels (CPU;
                                                        # checks the script and the results, not GPU speed)

For each preset and scene (17 joints, 256x256 and 512x512 maps, 5 and 30 people, batch 1 and 8) it does
warm-up calls, then times repeated calls and prints the median and IQR in milliseconds, the per-stage times
the decoder reports, and whether the results equal the CPU backend's exactly (they must). Timing: CUDA
events on the stream the decode runs on when torch is available (the decode ends with a stream
synchronisation, so host wall time is also valid), otherwise host wall time.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Any, Callable, List, Tuple

import numpy as np

import hrdecode

from bench_scenes import PRESETS, batch


def _to_device(a: np.ndarray) -> Tuple[Any, Callable[[], Any], Callable[[], Any]]:
    """(device array, event factory, synchronize) using torch or CuPy; raises ImportError if neither."""
    try:
        import torch

        if torch.cuda.is_available():
            t = torch.from_numpy(np.ascontiguousarray(a)).cuda()
            return t, lambda: torch.cuda.Event(enable_timing=True), torch.cuda.synchronize
    except ImportError:
        pass
    import cupy  # noqa: F401  (optional)

    return cupy.asarray(a), None, cupy.cuda.runtime.deviceSynchronize


def _percentiles(xs: List[float]) -> Tuple[float, float]:
    q = np.percentile(xs, [25, 50, 75])
    return float(q[1]), float(100 * (q[2] - q[0]) / q[1]) if q[1] > 0 else 0.0


def main(argv: List[str] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--backend", choices=["cuda", "emu"], default="cuda")
    ap.add_argument("--host-inputs", action="store_true", help="pass NumPy arrays (upload included)")
    ap.add_argument("--repeats", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="one small case per preset, 3 repeats")
    args = ap.parse_args(argv)

    if args.backend == "cuda":
        why = hrdecode.cuda_unavailable_reason()
        if why is not None:
            print(f"gpu_latency: the CUDA backend is not usable here: {why}", file=sys.stderr)
            return 2
    cases = [(1, 128, 5)] if args.quick else [(1, 256, 5), (1, 256, 30), (1, 512, 30), (8, 256, 10)]
    repeats, warmup = (3, 1) if args.quick else (args.repeats, args.warmup)
    device_inputs = args.backend == "cuda" and not args.host_inputs
    info = hrdecode.build_info()
    print(f"hrdecode {info['version']}, backend {args.backend} "
          f"({'device' if device_inputs else 'host'} inputs), cuda: {info['cuda_message']}")
    print("| preset | N | map | people | median ms | IQR % | candidates ms | group ms | refine ms | "
          "refine searches | equals cpu |")
    print("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for preset in PRESETS:
        for n, size, people in cases:
            heat, tags = batch(preset, n, size, people)
            cpu = hrdecode.Decoder(preset, backend="cpu")(heat, tags)
            dec = hrdecode.Decoder(preset, backend=args.backend)
            h_in, t_in, make_event, sync = heat, tags, None, lambda: None
            if device_inputs:
                h_in, make_event, sync = _to_device(heat)
                t_in, _, _ = _to_device(tags)
            for _ in range(warmup):
                dec(h_in, t_in)
            times = []
            for _ in range(repeats):
                if make_event is not None:
                    e0, e1 = make_event(), make_event()
                    e0.record()
                    out = dec(h_in, t_in)
                    e1.record()
                    sync()
                    times.append(e0.elapsed_time(e1))
                else:
                    t0 = time.perf_counter()
                    out = dec(h_in, t_in)
                    times.append((time.perf_counter() - t0) * 1e3)
            same = all(np.array_equal(a.keypoints, b.keypoints) and np.array_equal(a.scores, b.scores)
                       for a, b in zip(cpu, out))
            med, iqr = _percentiles(times)
            tm = out[0].timings
            print(f"| `{preset}` | {n} | {size}x{size} | {people} | {med:.3f} | {iqr:.0f} | "
                  f"{tm['candidates_ms']:.3f} | {statistics.fmean(r.timings['group_ms'] for r in out):.3f} | "
                  f"{tm['refine_ms']:.3f} | {tm['refine_searches']} | {'yes' if same else 'NO'} |")
            if not same:
                print(f"gpu_latency: {preset} results differ from the CPU backend", file=sys.stderr)
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
