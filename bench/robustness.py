"""The numbers behind the README's "Guarantees" section: concurrency, memory stability, large inputs.

    python bench/robustness.py            # full run (about 1-2 minutes)
    python bench/robustness.py --quick    # smaller counts (CI smoke run)

1. Concurrency: F frames (17x256x256, 10 people) decoded by one Python thread, then split over two Python
   threads (each its own Decoder, num_threads=1, so the parallelism comes only from the GIL being
   released in native code); and the same with one Decoder shared by both threads. Each thread decodes two
   frames before the clock starts (its per-thread scratch memory, as the serial run had). Results must
   equal the serial run. Three rounds of the three runs; a speedup is the ratio within a round (the VM's
   speed drifts between rounds), and the median over the rounds is reported and held to the budget.
2. Memory: 100,000 small frames (17x32x32, 2 people) decoded one by one; resident memory (VmRSS) after a
   1,000-frame warm-up and then every 10,000 frames; the growth is reported.
3. Scale: one 17x1024x1024 frame with 30 people and a batch of 32 frames of 17x256x256 (10 people each),
   each in a fresh subprocess that loads the inputs from .npy files; reported: decode time and the peak
   resident memory the decode adds on top of its inputs (VmHWM after minus VmRSS before).

Budgets (the script exits with status 1 when one is exceeded; --quick uses 512x512 and a batch of 8 with
the same budgets): two Python threads at least 1.2x one; resident memory growth below 2 MB over the small
frames; each scale case decodes (second call) within 250 ms and adds at most 64 MB of peak memory.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Dict, List

import numpy as np

import hrdecode
from hrdecode import synthetic


ROUNDS = 3  # concurrency rounds
BUDGET = {"two_thread_speedup": 1.2, "rss_growth_mb": 2.0, "scale_ms": 250.0, "scale_peak_mb": 64.0}


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def concurrency(frames: int) -> Dict[str, float]:
    scenes = [synthetic.make_scene(height=256, width=256, num_people=10, seed=i) for i in range(8)]
    inputs = [(scenes[i % 8].heatmaps, scenes[i % 8].tags) for i in range(frames)]
    serial_dec = hrdecode.Decoder("higherhrnet", num_threads=1)
    for h, t in inputs[:4]:
        serial_dec(h, t)
    want = [serial_dec(h, t) for h, t in inputs]

    def one_thread() -> float:
        t0 = time.perf_counter()
        for h, t in inputs:
            serial_dec(h, t)
        return time.perf_counter() - t0

    def run(dec, part, out, ready):
        for h, t in inputs[:2]:  # this thread's scratch memory, as the serial run had it
            dec(h, t)
        ready.wait()
        for i in part:
            out[i] = dec(*inputs[i])

    def two_threads(shared: bool) -> float:
        out: List = [None] * frames
        decs = [serial_dec, serial_dec] if shared else [hrdecode.Decoder("higherhrnet", num_threads=1)
                                                         for _ in range(2)]
        ready = threading.Barrier(3)
        ths = [threading.Thread(target=run, args=(decs[k], range(k, frames, 2), out, ready)) for k in range(2)]
        for th in ths:
            th.start()
        ready.wait()  # timed from the moment both threads are warm and start together
        t0 = time.perf_counter()
        for th in ths:
            th.join()
        dt = time.perf_counter() - t0
        for a, b in zip(want, out):
            if not (np.array_equal(a.keypoints, b.keypoints) and np.array_equal(a.scores, b.scores)):
                raise SystemExit("concurrency: a threaded result differs from the serial one")
        return dt

    # Rounds of (one thread, two with a Decoder each, two sharing one): the VM's speed drifts by up to 2x
    # over seconds, so each speedup is a ratio within one round; the medians over the rounds are reported.
    rounds = [(one_thread(), two_threads(shared=False), two_threads(shared=True)) for _ in range(ROUNDS)]
    one, own, shared = (statistics.median(r[i] for r in rounds) for i in range(3))
    return {"frames": frames, "rounds": ROUNDS, "one_thread_s": one, "two_threads_s": own,
            "two_threads_shared_s": shared,
            "speedup": statistics.median(r[0] / r[1] for r in rounds),
            "speedup_shared": statistics.median(r[0] / r[2] for r in rounds),
            "speedups": [round(r[0] / r[1], 3) for r in rounds],
            "speedups_shared": [round(r[0] / r[2], 3) for r in rounds]}


def memory(frames: int) -> Dict[str, float]:
    scenes = [synthetic.make_scene(height=32, width=32, num_people=2, seed=i) for i in range(16)]
    dec = hrdecode.Decoder("higherhrnet")
    for i in range(1000):
        s = scenes[i % 16]
        dec(s.heatmaps, s.tags)
    base = _status_kb("VmRSS")
    samples = []
    t0 = time.perf_counter()
    for i in range(frames):
        s = scenes[i % 16]
        dec(s.heatmaps, s.tags)
        if (i + 1) % 10000 == 0:
            samples.append(_status_kb("VmRSS"))
    dt = time.perf_counter() - t0
    return {"frames": frames, "rss_after_warmup_mb": base / 1024, "rss_max_mb": max(samples) / 1024,
            "rss_growth_mb": (max(samples) - base) / 1024, "rss_last_mb": samples[-1] / 1024,
            "us_per_frame": dt / frames * 1e6}


_CHILD = r"""
import json, sys, time, numpy as np, hrdecode
def kb(field):
    for line in open('/proc/self/status'):
        if line.startswith(field + ':'):
            return int(line.split()[1])
h = np.load(sys.argv[1]); t = np.load(sys.argv[2])
dec = hrdecode.Decoder('higherhrnet')
rss0 = kb('VmRSS'); hwm0 = kb('VmHWM')
t0 = time.perf_counter(); r = dec(h, t); dt = time.perf_counter() - t0
t0 = time.perf_counter(); r = dec(h, t); dt2 = time.perf_counter() - t0
people = sum(x.num_people for x in r) if isinstance(r, list) else r.num_people
print(json.dumps({'input_mb': (h.nbytes + t.nbytes) / 2**20, 'rss_before_mb': rss0 / 1024,
                  'peak_added_mb': (kb('VmHWM') - max(rss0, hwm0)) / 1024, 'first_s': dt, 'second_s': dt2,
                  'people': people}))
"""


def scale(size: int, people: int, n: int) -> Dict[str, float]:
    if n == 1:
        s = synthetic.make_scene(height=size, width=size, num_people=people, seed=0)
        h, t = s.heatmaps, s.tags
    else:
        h, t, _ = synthetic.make_batch(n, height=size, width=size, num_people=people, seed=0)
    with tempfile.TemporaryDirectory() as d:
        hp, tp = Path(d) / "h.npy", Path(d) / "t.npy"
        np.save(hp, np.ascontiguousarray(h, np.float32))
        np.save(tp, np.ascontiguousarray(t, np.float32))
        out = subprocess.run([sys.executable, "-c", _CHILD, str(hp), str(tp)], check=True, capture_output=True,
                             text=True)
    res = json.loads(out.stdout)
    res.update({"size": size, "scene_people": people, "n": n})
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    t_start = time.perf_counter()
    info = hrdecode.build_info()
    res = {
        "concurrency": concurrency(96 if args.quick else 200),
        "memory": memory(10_000 if args.quick else 100_000),
        "scale": [scale(512 if args.quick else 1024, 30, 1), scale(256, 10, 8 if args.quick else 32)],
    }
    if args.json:
        print(json.dumps(res, indent=1))
        return 0
    c, m = res["concurrency"], res["memory"]
    print(f"hrdecode {info['version']}, {info['hardware_threads']} hardware threads, {os.cpu_count()} CPUs\n")
    print(f"| concurrency (17x256x256, 10 people; medians of {c['rounds']} rounds) | frames | seconds | speedup |")
    print("| --- | ---: | ---: | ---: |")
    print(f"| 1 Python thread | {c['frames']} | {c['one_thread_s']:.3f} | 1.00x |")
    print(f"| 2 Python threads, a Decoder each | {c['frames']} | {c['two_threads_s']:.3f} | {c['speedup']:.2f}x |")
    print(f"| 2 Python threads, one shared Decoder | {c['frames']} | {c['two_threads_shared_s']:.3f} | "
          f"{c['speedup_shared']:.2f}x |")
    print(f"\n(threaded results identical to the serial ones; speedups of the rounds: a Decoder each "
          f"{', '.join(f'{v:.2f}x' for v in c['speedups'])}, shared "
          f"{', '.join(f'{v:.2f}x' for v in c['speedups_shared'])})\n")
    print("| memory: small frames (17x32x32, 2 people) | value |")
    print("| --- | ---: |")
    print(f"| frames decoded after a 1,000-frame warm-up | {m['frames']:,} |")
    print(f"| resident memory after warm-up | {m['rss_after_warmup_mb']:.1f} MB |")
    print(f"| largest resident memory, sampled every 10,000 frames | {m['rss_max_mb']:.1f} MB |")
    print(f"| growth | {m['rss_growth_mb']:.2f} MB |")
    print(f"| time per frame (Python call included) | {m['us_per_frame']:.0f} us |\n")
    print("| scale (fresh process, inputs loaded from .npy) | input MB | people found | first call ms | "
          "second call ms | peak memory added by the decode |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for s in res["scale"]:
        what = (f"17x{s['size']}x{s['size']}, {s['scene_people']} people" if s["n"] == 1
                else f"batch of {s['n']} x 17x{s['size']}x{s['size']}, {s['scene_people']} people each")
        print(f"| {what} | {s['input_mb']:.0f} | {s['people']} | {s['first_s'] * 1e3:.1f} | "
              f"{s['second_s'] * 1e3:.1f} | {s['peak_added_mb']:.1f} MB |")
    print(f"\n_Measured in {time.perf_counter() - t_start:.0f} s._")
    over = []
    if c["speedup"] < BUDGET["two_thread_speedup"]:
        over.append(f"two Python threads only {c['speedup']:.2f}x one")
    if m["rss_growth_mb"] > BUDGET["rss_growth_mb"]:
        over.append(f"resident memory grew {m['rss_growth_mb']:.2f} MB")
    for s in res["scale"]:
        if s["second_s"] * 1e3 > BUDGET["scale_ms"] or s["peak_added_mb"] > BUDGET["scale_peak_mb"]:
            over.append(f"scale case {s['size']}x{s['size']} (n={s['n']}): {s['second_s'] * 1e3:.0f} ms, "
                        f"{s['peak_added_mb']:.0f} MB")
    for o in over:
        print(f"robustness: over budget: {o}", file=sys.stderr)
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
