"""Command line: ``hrdecode demo|info|export|predict|eval`` (and ``python -m hrdecode ...``)."""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Callable, List, Optional, Sequence

import numpy as np


def _median_ms(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(ts)


def _demo(args: argparse.Namespace) -> int:
    import hrdecode
    from hrdecode import _reference, synthetic

    if args.size < 8 or args.people < 0:
        print("hrdecode demo: --size must be >= 8 and --people >= 0", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    scene = synthetic.make_scene(height=args.size, width=args.size, num_people=args.people, seed=args.seed,
                                 tag_dim=args.tag_dim)
    render_ms = (time.perf_counter() - t0) * 1e3
    K, H, W = scene.heatmaps.shape
    L = scene.tags.shape[-1]
    info = hrdecode.build_info()
    print(f"hrdecode {info['version']} demo  (backend cpu, {info['threads']} threads, SIMD {info['simd']}, "
          f"CUDA compiled: {info['cuda_compiled']}, device: {info['cuda_available']})")
    print(f"INPUT IS SYNTHETIC: a scene rendered by hrdecode.synthetic (seed {args.seed}): {args.people} people, "
          f"{scene.config.spurious_peaks} spurious peaks, noise {scene.config.noise}; maps K={K} H={H} W={W} L={L} "
          f"(rendered in {render_ms:.0f} ms)")
    print()
    solver = _reference.default_solver()
    solver_name = ("munkres 1.1.4 / scipy (Python)" if solver == "python" else
                   "hrdecode's native solver ports (pip install munkres==1.1.4 scipy for the Python ones)")
    header = f"{'preset':<12} {'people':>6} {'decode ms':>10} {'candidates':>10} {'group':>7} {'adjust':>7} {'refine':>8}"
    print(header)
    print("-" * len(header))
    results = {}
    for preset in ("higherhrnet", "mmpose", "omz", "accurate"):
        heat = synthetic.to_omz_output(scene.heatmaps) if preset == "omz" else scene.heatmaps
        tags = scene.tags[..., :1] if preset == "omz" else scene.tags
        dec = hrdecode.Decoder(preset)
        stages: List[dict] = []
        ms = _median_ms(lambda: stages.append(dec(heat, tags).timings), args.repeats)
        r = dec(heat, tags)
        results[preset] = (dec, heat, tags, r, ms)
        t = {k: statistics.median(st[k] for st in stages) for k in stages[0]}
        print(f"{preset:<12} {r.num_people:>6} {ms:>10.3f} {t['candidates_ms']:>10.3f} {t['group_ms']:>7.3f} "
              f"{t['adjust_ms']:>7.3f} {t['refine_ms']:>8.3f}")
    print()
    dec, heat, tags, r, ms = results["higherhrnet"]
    t0 = time.perf_counter()
    kp, sc = _reference.decode(heat, tags, dec.config, solver=solver)
    ref_ms = (time.perf_counter() - t0) * 1e3
    same = kp.shape == r.keypoints.shape and bool(np.array_equal(kp, r.keypoints))
    print(f"NumPy reference of the HigherHRNet algorithm (matching with {solver_name}): {ref_ms:.1f} ms, "
          f"{kp.shape[0]} people")
    print(f"hrdecode 'higherhrnet': {ms:.3f} ms -> {ref_ms / ms:.0f}x faster; outputs identical: {'yes' if same else 'NO'}")
    visible = int((scene.joints[..., 2] > 0).any(axis=1).sum())
    strong = int((r.scores > 0.2).sum())
    print(f"ground truth: {visible} people; decoded people with score > 0.2: {strong} "
          f"(the reference semantics also turn every unmatched spurious peak into a low-score person)")
    return 0 if same else 1


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="hrdecode", description="Fast associative-embedding pose decoding.")
    sub = parser.add_subparsers(dest="command")
    demo = sub.add_parser("demo", help="decode a crowded synthetic scene with every preset and the NumPy reference")
    demo.add_argument("--size", type=int, default=256, help="heatmap height and width (default 256)")
    demo.add_argument("--people", type=int, default=30, help="people in the scene (default 30)")
    demo.add_argument("--seed", type=int, default=0, help="scene seed (default 0)")
    demo.add_argument("--tag-dim", type=int, default=1, help="tag length L (default 1; 2 = flip-test tags)")
    demo.add_argument("--repeats", type=int, default=20, help="timing repeats (median is shown)")
    sub.add_parser("info", help="print build information")
    from . import _cli_predict

    _cli_predict.add_parsers(sub)
    args = parser.parse_args(argv)
    if args.command in _cli_predict.COMMANDS:
        return _cli_predict.run(args)
    if args.command == "demo":
        return _demo(args)
    if args.command == "info":
        import hrdecode

        for k, v in hrdecode.build_info().items():
            print(f"{k}: {v}")
        return 0
    parser.print_help()
    return 0 if args.command is None else 2


if __name__ == "__main__":
    sys.exit(main())
