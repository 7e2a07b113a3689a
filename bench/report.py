"""Measure hrdecode and print the README's performance tables as Markdown.

Run from the repository root, in the venv where hrdecode is installed::

    python bench/report.py                    # thorough (default): about 1.5 minutes on 2 cores
    python bench/report.py --quick            # CI smoke run: few repeats, about 15 s
    python bench/report.py --json out.json    # also write every number (and the raw settings) as JSON

Every number is measured in this process, on synthetic scenes from ``hrdecode.synthetic`` with fixed
parameters (see ``bench_scenes.py``: 17 joints, L = 1, seed 0, other ``SceneConfig`` fields default).

Tables:

1. End-to-end latency of ``Decoder("higherhrnet")`` on one image, for 128/256/512 square maps with 0/5/30
   people: wall time of the Python call (default threads and num_threads=1), the native per-stage times, the
   time to copy both input arrays once (``np.copy`` each), with the ratio decode / copy, and the time of one
   read pass over both (the machine's floor for a decoder that reads every input value).
2. Speedup against the Python decoders on 17x256x256 maps with 5 and 30 people: hrdecode's NumPy +
   munkres 1.1.4 reference of the HigherHRNet algorithm, the real Open Model Zoo decoder and the real mmpose
   1.3.2 codec (the latter two from ``tests/oracles.py``, when installed), each against the hrdecode preset
   that reproduces it, with a check that both return the same keypoints.
3. Batch throughput: 8 images of 17x256x256 with 10 people, ``num_threads`` 1 vs 2, every preset.

Exit status: 1 if any output check fails (hrdecode differs from a baseline, or depends on the thread count).

Timing: one helper, :func:`measure` (``time.perf_counter`` around each call, warm-up calls first, median of
the repeats; the repeat count is printed next to every number). Nothing is pinned; other processes on the
machine add noise, which the "IQR %" columns (interquartile range / median) show.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import sys
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import hrdecode  # noqa: E402
from hrdecode import _reference  # noqa: E402

from bench_scenes import batch, oracles, preset_inputs, scene_params  # noqa: E402

STAGES: Tuple[str, ...] = ("candidates_ms", "group_ms", "adjust_ms", "refine_ms")
TABLE1_SIZES: Tuple[int, ...] = (128, 256, 512)
TABLE1_PEOPLE: Tuple[int, ...] = (0, 5, 30)
TABLE2_SIZE = 256
TABLE2_PEOPLE: Tuple[int, ...] = (5, 30)
BATCH_N, BATCH_SIZE, BATCH_PEOPLE = 8, 256, 10
BATCH_THREADS: Tuple[int, ...] = (1, 2)


# ---------------------------------------------------------------------------------------------------------
# timing
# ---------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Mode:
    """How hard to measure. Fast cases repeat until ``budget_s`` is spent (at least ``min_repeats``, at most
    ``max_repeats`` times); the slow Python baselines run exactly ``slow_repeats`` times."""

    name: str
    warmup: int
    min_repeats: int
    max_repeats: int
    budget_s: float
    slow_warmup: int
    slow_repeats: int


THOROUGH = Mode("default", warmup=3, min_repeats=20, max_repeats=1000, budget_s=2.5, slow_warmup=1, slow_repeats=5)
QUICK = Mode("quick", warmup=1, min_repeats=3, max_repeats=30, budget_s=0.15, slow_warmup=1, slow_repeats=3)


@dataclass
class Timing:
    """Wall-clock samples of one measured call, plus the medians of any per-call metrics."""

    samples_ms: List[float]
    metrics: Dict[str, float] = field(default_factory=dict)

    @property
    def repeats(self) -> int:
        return len(self.samples_ms)

    @property
    def median_ms(self) -> float:
        return statistics.median(self.samples_ms)

    @property
    def iqr_pct(self) -> float:
        """Interquartile range as a percentage of the median (0 with fewer than 4 samples)."""
        if len(self.samples_ms) < 4:
            return 0.0
        q1, _, q3 = statistics.quantiles(self.samples_ms, n=4)
        return 100.0 * (q3 - q1) / self.median_ms

    def summary(self) -> Dict[str, Any]:
        return dict(median_ms=self.median_ms, iqr_pct=self.iqr_pct, repeats=self.repeats,
                    min_ms=min(self.samples_ms), max_ms=max(self.samples_ms), metrics=self.metrics)


def measure(fn: Callable[[], Any], *, warmup: int, min_repeats: int, max_repeats: Optional[int] = None,
            budget_s: float = 0.0, metrics: Optional[Callable[[Any], Mapping[str, float]]] = None) -> Timing:
    """Time ``fn()``: ``warmup`` untimed calls, then timed calls (``time.perf_counter``) until at least
    ``min_repeats`` were made and ``budget_s`` seconds spent, or ``max_repeats`` were made.

    ``metrics(result)``, if given, extracts numbers from each timed call's return value (e.g. the native
    per-stage times); their medians over the timed calls are returned in ``Timing.metrics``.
    """
    max_repeats = min_repeats if max_repeats is None else max(max_repeats, min_repeats)
    for _ in range(warmup):
        fn()
    gc.collect()
    samples: List[float] = []
    extracted: Dict[str, List[float]] = {}
    start = time.perf_counter()
    while len(samples) < max_repeats:
        t0 = time.perf_counter()
        result = fn()
        samples.append((time.perf_counter() - t0) * 1e3)
        if metrics is not None:
            for key, value in metrics(result).items():
                extracted.setdefault(key, []).append(float(value))
        del result
        if len(samples) >= min_repeats and time.perf_counter() - start >= budget_s:
            break
    return Timing(samples, {k: statistics.median(v) for k, v in extracted.items()})


def measure_interleaved(fns: Sequence[Callable[[], Any]], mode: Mode, block: int = 25, settle: int = 2,
                        metrics: Optional[Callable[[Any], Mapping[str, float]]] = None) -> List[Timing]:
    """Time several calls taking turns in blocks until ``mode``'s budget (times the number of calls) is spent:
    per round, each call runs ``settle`` untimed times (the caches hold what the previous block left), then
    ``block`` timed times. On a shared VM whose speed drifts by up to 2x over minutes, the ratio of two
    medians measured one after the other mostly measures the drift; taking turns, every call sees the same
    machine, and each one is still timed in its own steady state (its inputs as warm in the caches as when
    it is repeated alone). ``metrics`` applies to the first call."""
    for _ in range(mode.warmup):
        for fn in fns:
            fn()
    gc.collect()
    block = max(1, min(block, mode.max_repeats))
    samples: List[List[float]] = [[] for _ in fns]
    extracted: Dict[str, List[float]] = {}
    start = time.perf_counter()
    while len(samples[0]) < mode.max_repeats:
        for i, fn in enumerate(fns):
            for _ in range(settle):
                fn()
            for _ in range(block):
                t0 = time.perf_counter()
                result = fn()
                samples[i].append((time.perf_counter() - t0) * 1e3)
                if i == 0 and metrics is not None:
                    for key, value in metrics(result).items():
                        extracted.setdefault(key, []).append(float(value))
                del result
        if len(samples[0]) >= mode.min_repeats and time.perf_counter() - start >= mode.budget_s * len(fns):
            break
    first = {k: statistics.median(v) for k, v in extracted.items()}
    return [Timing(x, first if i == 0 else {}) for i, x in enumerate(samples)]


def measure_fast(fn: Callable[[], Any], mode: Mode,
                 metrics: Optional[Callable[[Any], Mapping[str, float]]] = None) -> Timing:
    return measure(fn, warmup=mode.warmup, min_repeats=mode.min_repeats, max_repeats=mode.max_repeats,
                   budget_s=mode.budget_s, metrics=metrics)


def measure_slow(fn: Callable[[], Any], mode: Mode) -> Timing:
    return measure(fn, warmup=mode.slow_warmup, min_repeats=mode.slow_repeats)


def native_stages(result: hrdecode.DecodeResult) -> Dict[str, float]:
    return {**{k: result.timings[k] for k in ("total_ms",) + STAGES}, "people": float(result.num_people)}


def copy_inputs(heat: np.ndarray, tags: np.ndarray) -> Callable[[], Tuple[np.ndarray, np.ndarray]]:
    """The baseline: copy both input arrays once (every input byte read and written once)."""
    return lambda: (np.copy(heat), np.copy(tags))


def read_inputs(heat: np.ndarray, tags: np.ndarray) -> Callable[[], Tuple[Any, Any]]:
    """The machine's floor for any decoder that looks at every input value: one read pass over both arrays
    (NumPy's SIMD maximum, one thread, nothing written)."""
    return lambda: (heat.max(), tags.max())


# ---------------------------------------------------------------------------------------------------------
# machine facts
# ---------------------------------------------------------------------------------------------------------

def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def native_module_mtime() -> str:
    """Modification time of the loaded native module (tells which build was measured)."""
    path = Path(hrdecode._C.__file__)
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(path.stat().st_mtime))


def machine_facts() -> Dict[str, Any]:
    info = hrdecode.build_info()
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        usable = os.cpu_count() or 0
    facts: Dict[str, Any] = {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "cores_usable": usable,
        "load_average_1min_at_start": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "hrdecode": info["version"],
        "simd": info["simd"],
        "simd_runtime": info.get("simd_runtime", info["simd"]),
        "compiler": info["compiler"],
        "hrdecode_threads": info["threads"],
        "native_module_mtime": native_module_mtime(),
    }
    return facts


# ---------------------------------------------------------------------------------------------------------
# the tables
# ---------------------------------------------------------------------------------------------------------

def table1(mode: Mode) -> List[Dict[str, Any]]:
    """End-to-end single-image latency of the "higherhrnet" preset, per map size and people count, with the
    Decoder's default thread count and with num_threads=1."""
    dec = hrdecode.Decoder("higherhrnet")
    dec1 = hrdecode.Decoder("higherhrnet", num_threads=1)
    rows = []
    for size in TABLE1_SIZES:
        for people in TABLE1_PEOPLE:
            heat, tags = preset_inputs("higherhrnet", size, people)
            dec_t, dec1_t, copy_t, read_t = measure_interleaved(
                [lambda: dec(heat, tags), lambda: dec1(heat, tags), copy_inputs(heat, tags),
                 read_inputs(heat, tags)], mode, metrics=native_stages)
            rows.append(dict(size=size, people=people, decode=dec_t.summary(), decode_1_thread=dec1_t.summary(),
                             copy=copy_t.summary(), read=read_t.summary(),
                             people_found=int(dec_t.metrics["people"]),
                             decode_over_copy=dec_t.median_ms / copy_t.median_ms))
    return rows


#: A decoder's output reduced to (keypoints (P, K, 3) x/y/score, person scores (P,)).
Output = Tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class Baseline:
    """A Python decoder and the hrdecode preset that reproduces it.

    ``call(heatmaps, tags)`` is what is timed; ``normalize`` turns its return value into an :data:`Output`
    (not timed); ``ties(heatmaps)`` says whether the input has exact top-k ties (baseline order undefined).
    """

    name: str
    preset: str
    available: Callable[[], Tuple[bool, str]]
    call: Callable[[np.ndarray, np.ndarray], Any]
    normalize: Callable[[Any], Output]
    ties: Callable[[np.ndarray], bool]


_HIGHERHRNET_CONFIG = hrdecode.Decoder("higherhrnet").config


def _reference_call(heat: np.ndarray, tags: np.ndarray) -> Output:
    return _reference.decode(heat, tags, _HIGHERHRNET_CONFIG, solver="python")


def _omz_output(out: Any) -> Output:
    poses, scores = out
    return poses[..., :3], scores


def _mmpose_output(out: Any) -> Output:
    (kp, ks, inst), = out
    return np.concatenate([kp, ks[..., None]], axis=-1), inst


BASELINES: Tuple[Baseline, ...] = (
    Baseline("HigherHRNet reference algorithm (NumPy + munkres 1.1.4)", "higherhrnet",
             lambda: (True, "hrdecode._reference.decode(..., solver='python')"),
             _reference_call, lambda out: out, lambda h: oracles.topk_has_ties(h[None])),
    Baseline("Open Model Zoo decoder (model_api)", "omz", oracles.omz_available,
             lambda h, t: oracles.omz_decode(h[None], t[None]), _omz_output,
             # OMZ's maps are NMS'ed in the graph: its top-k reads the positive part directly
             lambda h: oracles.topk_has_ties(np.maximum(h, 0)[None], kernel=1)),
    Baseline("mmpose 1.3.2 AssociativeEmbedding codec", "mmpose", oracles.mmpose_available,
             lambda h, t: oracles.mmpose_decode(h[None], t[None]), _mmpose_output,
             lambda h: oracles.topk_has_ties(h[None])),
)


def compare(b: Baseline, people: int, mode: Mode, tag_dim: int = 1) -> Dict[str, Any]:
    """Time baseline ``b`` and its preset (default threads and num_threads=1) on one scene; check outputs.
    The default-thread timing carries the native stage times (``metrics``)."""
    heat, tags = preset_inputs(b.preset, TABLE2_SIZE, people, tag_dim=tag_dim)
    dec = hrdecode.Decoder(b.preset)
    dec1 = hrdecode.Decoder(b.preset, num_threads=1)
    base = measure_slow(lambda: b.call(heat, tags), mode)
    ours = measure_fast(lambda: dec(heat, tags), mode, metrics=native_stages)
    ours1 = measure_fast(lambda: dec1(heat, tags), mode)
    ref_kp, ref_sc = b.normalize(b.call(heat, tags))
    r = dec(heat, tags)
    same_shape = r.keypoints.shape == ref_kp.shape
    return dict(
        people=people, baseline=base.summary(), hrdecode=ours.summary(), hrdecode_1_thread=ours1.summary(),
        speedup=base.median_ms / ours.median_ms, speedup_1_thread=base.median_ms / ours1.median_ms,
        people_baseline=int(ref_kp.shape[0]), people_hrdecode=r.num_people,
        keypoints_identical=bool(same_shape and np.array_equal(r.keypoints, ref_kp)),
        scores_max_abs_diff=(float(np.max(np.abs(r.scores.astype(np.float64) - ref_sc), initial=0.0))
                             if r.scores.shape == ref_sc.shape else float("nan")),
        topk_ties=b.ties(heat),
    )


def table2(mode: Mode) -> List[Dict[str, Any]]:
    rows = []
    for b in BASELINES:
        ok, why = b.available()
        row: Dict[str, Any] = dict(baseline=b.name, preset=b.preset, available=ok, detail=why)
        if ok:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the references' own deprecation chatter
                row["scenes"] = [compare(b, p, mode) for p in TABLE2_PEOPLE]
        rows.append(row)
    return rows


def table4(mode: Mode) -> List[Dict[str, Any]]:
    """2-D tags (L = 2, as HigherHRNet's flip test stacks them): each preset's decode with L = 1 and L = 2 on
    the same scene, and the baselines that take 2-D tags (the OMZ decoder reads one tag dimension)."""
    rows = []
    for preset in ("higherhrnet", "mmpose", "omz"):
        dec = hrdecode.Decoder(preset)
        for people in TABLE2_PEOPLE:
            h1, t1 = preset_inputs(preset, TABLE2_SIZE, people)
            row: Dict[str, Any] = dict(preset=preset, people=people,
                                       l1=measure_fast(lambda: dec(h1, t1), mode).summary())
            b = next((b for b in BASELINES if b.preset == preset and preset != "omz"), None)
            if b is not None and b.available()[0]:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    row["baseline"] = compare(b, people, mode, tag_dim=2)  # times the preset at L=2 too
                row["baseline_name"] = b.name
                row["l2"] = row["baseline"]["hrdecode"]
            else:
                h2, t2 = preset_inputs(preset, TABLE2_SIZE, people, tag_dim=2)
                row["l2"] = measure_fast(lambda: dec(h2, t2), mode, metrics=native_stages).summary()
            row["people_found"] = int(row["l2"]["metrics"]["people"])
            rows.append(row)
    return rows


def table3(mode: Mode) -> List[Dict[str, Any]]:
    """Batch throughput of each preset with num_threads = 1 and 2; results must not depend on threads."""
    rows = []
    for preset in ("higherhrnet", "mmpose", "omz"):
        heat, tags = batch(preset, BATCH_N, BATCH_SIZE, BATCH_PEOPLE)
        outputs = []
        for threads in BATCH_THREADS:
            dec = hrdecode.Decoder(preset, num_threads=threads)
            t = measure_fast(lambda: dec(heat, tags), mode)
            outputs.append(dec(heat, tags))
            rows.append(dict(preset=preset, threads=threads, batch=t.summary(),
                             images_per_s=BATCH_N / (t.median_ms / 1e3)))
        first = outputs[0]
        same = all(len(o) == len(first) and all(np.array_equal(a.keypoints, b.keypoints)
                                                 and np.array_equal(a.scores, b.scores) for a, b in zip(o, first))
                   for o in outputs[1:])
        base = rows[-len(BATCH_THREADS)]["images_per_s"]
        for row in rows[-len(BATCH_THREADS):]:
            row["speedup_vs_1_thread"] = row["images_per_s"] / base
            row["identical_across_threads"] = same
    return rows


# ---------------------------------------------------------------------------------------------------------
# Markdown
# ---------------------------------------------------------------------------------------------------------

def md_table(header: Sequence[str], rows: Sequence[Sequence[Any]], align: str = "") -> str:
    """A Markdown table; ``align`` has one char per column, "l" or "r" (default: first l, rest r)."""
    align = align or "l" + "r" * (len(header) - 1)
    sep = ["---" if a == "l" else "---:" for a in align]
    lines = ["| " + " | ".join(map(str, header)) + " |", "| " + " | ".join(sep) + " |"]
    lines += ["| " + " | ".join(map(str, r)) + " |" for r in rows]
    return "\n".join(lines)


def ms(x: float) -> str:
    return f"{x:.3f}" if x < 1 else f"{x:.2f}" if x < 100 else f"{x:.0f}"


def yes_no(b: bool) -> str:
    return "yes" if b else "**no**"


def render(facts: Mapping[str, Any], mode: Mode, t1: List[Dict[str, Any]], t2: List[Dict[str, Any]],
           t3: List[Dict[str, Any]], t4: List[Dict[str, Any]]) -> str:
    out: List[str] = []
    w = out.append
    w("## Performance\n")
    w(f"Measured by `python bench/report.py{' --quick' if mode is QUICK else ''}` (mode: {mode.name}) on: "
      f"{facts['cpu']}, {facts['cores']} cores ({facts['cores_usable']} usable), "
      f"1-min load average {facts['load_average_1min_at_start']} at start and "
      f"{facts.get('load_average_1min_at_end')} at end; Python {facts['python']}, "
      f"NumPy {facts['numpy']}, hrdecode {facts['hrdecode']} (SIMD: {facts['simd']} build, "
      f"{facts['simd_runtime']} at run time, {facts['compiler']}, "
      f"native module built {facts['native_module_mtime']}), "
      f"CPU backend"
      + (f"; torch intra-op threads (mmpose baseline): {facts['torch_threads_mmpose_baseline']}"
         if "torch_threads_mmpose_baseline" in facts else "") + ".\n")
    if "warning" in facts:
        w(f"**Warning:** {facts['warning']}\n")
    p = scene_params(0, 0)
    w("Inputs are synthetic scenes from `hrdecode.synthetic.make_scene` (no model, no dataset): "
      f"{p['num_joints']} COCO joints, tag length L={p['tag_dim']}, square maps, seed {p['seed']}, all other "
      "`SceneConfig` fields at their defaults (sigma 2, 20 spurious peaks, noise 0.02, visibility 0.9). "
      "The `omz` preset and the OMZ decoder get the OMZ model-style signed maps "
      "(`tests/oracles.py:omz_signed_heatmaps`, 5x5 NMS, non-peaks negated).\n")
    w(f"Timing: `time.perf_counter` around each call, {mode.warmup} warm-up call(s), then repeats until "
      f"{mode.budget_s:g} s are spent (at least {mode.min_repeats}, at most {mode.max_repeats}); the median "
      f"is shown. Slow Python baselines: {mode.slow_warmup} warm-up call(s) and only {mode.slow_repeats} "
      "timed repeats. Nothing pinned; IQR % = interquartile range / median (noise from other processes).\n")

    # ---- Table 1
    w("### End-to-end decode latency, `higherhrnet` preset, one image (17 joints, L=1)\n")
    w("`decode` is the wall time of `Decoder(\"higherhrnet\")(heatmaps, tags)` from Python with the default "
      f"`num_threads` ({facts['hrdecode_threads']} here: a single image's per-joint candidates and refine searches "
      "run in parallel); `1 thread` is the same with `num_threads=1`. `native` and the stages are the decoder's "
      "own per-stage timings (`DecodeResult.timings`, medians over the default-thread calls; candidates and "
      "group overlap, the grouping starting with the first joint's candidates; with more than one thread the tile "
      "summaries are built during the grouping, with one thread in refine); `copy` is `np.copy(heatmaps), np.copy(tags)` once each; `read` is one read pass over both "
      "(`heatmaps.max(), tags.max()`, one thread): the floor for any decoder that looks at every input value "
      "on this machine. The four take turns in blocks (per round, each runs "
      "2 untimed and 25 timed calls, until the budget times four is spent): every one is timed in its own "
      "steady state, as when repeated alone, but all four see the same machine, so `decode / copy` is not "
      "skewed by the VM's speed drifting between separate measurements.\n")
    rows = []
    for r in t1:
        d, d1, c, rd, m = r["decode"], r["decode_1_thread"], r["copy"], r["read"], r["decode"]["metrics"]
        rows.append([f"{r['size']}x{r['size']}", r["people"], r["people_found"], ms(d["median_ms"]),
                     f"{d['iqr_pct']:.0f}", ms(d1["median_ms"]), ms(m["total_ms"]), *(ms(m[s]) for s in STAGES),
                     ms(c["median_ms"]), f"{r['decode_over_copy']:.1f}", ms(rd["median_ms"]),
                     f"{d['repeats']}/{d1['repeats']}/{c['repeats']}/{rd['repeats']}"])
    w(md_table(["map", "people in scene", "people found", "decode ms", "IQR %", "1 thread ms", "native ms",
                "candidates ms", "group ms", "adjust ms", "refine ms", "copy ms", "decode / copy", "read ms",
                "repeats (decode/1 thread/copy/read)"], rows) + "\n")

    # ---- Table 2
    w(f"### Speedup against the Python decoders, 17x{TABLE2_SIZE}x{TABLE2_SIZE}, one image\n")
    w("Each baseline against the hrdecode preset that reproduces it, on the same input arrays (wall time of "
      "the Python call; the oracle wrappers' input copies/layout changes are included, well under 1 ms). "
      f"`hrdecode ms` uses the default `num_threads` ({facts['hrdecode_threads']}); `speedup, 1 thread` compares "
      "with `num_threads=1`. `outputs identical`: hrdecode's keypoints (x, y, score) equal the baseline's "
      "exactly, same number of people, on every scene of the row.\n")
    rows = []
    notes = []
    for r in t2:
        if not r["available"]:
            rows.append([r["baseline"], f"`{r['preset']}`"] + ["n/a"] * (4 * len(TABLE2_PEOPLE) + 2))
            notes.append(f"- {r['baseline']}: not measured ({r['detail']}).")
            continue
        cells = []
        reps = []
        for s in r["scenes"]:
            cells += [ms(s["baseline"]["median_ms"]), ms(s["hrdecode"]["median_ms"]), f"{s['speedup']:.0f}x",
                      f"{s['speedup_1_thread']:.0f}x"]
            reps.append(f"{s['baseline']['repeats']}/{s['hrdecode']['repeats']}/{s['hrdecode_1_thread']['repeats']}")
        ident = all(s["keypoints_identical"] for s in r["scenes"])
        rows.append([r["baseline"], f"`{r['preset']}`", *cells, yes_no(ident), ", ".join(reps)])
        detail = "; ".join(
            f"{s['people']} people: {s['people_baseline']} vs {s['people_hrdecode']} people found, keypoints "
            f"{'identical' if s['keypoints_identical'] else 'DIFFERENT'}, max |score diff| "
            f"{s['scores_max_abs_diff']:.2g}{', candidate ties (output order not well defined)' if s['topk_ties'] else ''}"
            for s in r["scenes"])
        notes.append(f"- {r['baseline']} ({r['detail']}): {detail}.")
    header = ["baseline", "hrdecode preset"]
    for p_ in TABLE2_PEOPLE:
        header += [f"{p_} p: baseline ms", f"{p_} p: hrdecode ms", f"{p_} p: speedup", f"{p_} p: speedup, 1 thread"]
    header += ["outputs identical", "repeats (baseline/hrdecode/1 thread) per scene"]
    w(md_table(header, rows) + "\n")
    w("\n".join(notes) + "\n")

    # ---- Table 3
    w(f"### Batch throughput, {BATCH_N} images of 17x{BATCH_SIZE}x{BATCH_SIZE}, {BATCH_PEOPLE} people each\n")
    w(f"One call `Decoder(preset, num_threads=k)(heatmaps (N,K,H,W), tags (N,K,H,W,L))` with N={BATCH_N} "
      f"(scene seeds {scene_params(0, 0)['seed']}..{scene_params(0, 0)['seed'] + BATCH_N - 1}); images/s = "
      f"N / median batch time. `identical` = the same results with every thread count.\n")
    rows = [[f"`{r['preset']}`", r["threads"], ms(r["batch"]["median_ms"]), f"{r['images_per_s']:.0f}",
             f"{r['speedup_vs_1_thread']:.2f}x", f"{r['batch']['iqr_pct']:.0f}", r["batch"]["repeats"],
             yes_no(r["identical_across_threads"])] for r in t3]
    w(md_table(["preset", "num_threads", "batch ms", "images/s", "vs 1 thread", "IQR %", "repeats",
                "identical"], rows) + "\n")

    # ---- Table 4
    w(f"### 2-D tags (flip test), 17x{TABLE2_SIZE}x{TABLE2_SIZE}, one image\n")
    w("HigherHRNet's flip test stacks the tags of the image and of its mirror image: tags (K,H,W,2). The same "
      "scenes rendered with `tag_dim=2` (a person's second tag close to its first; the background of each "
      "dimension its own smooth random field, so fewer pixels match a person's tag in both dimensions and "
      "more refine searches end below the hot tiles). `L=1 ms` and `L=2 ms`: the preset with the default "
      "`num_threads` on the L=1 and L=2 scene. The baselines that take 2-D tags are timed on the L=2 scene "
      "(the OMZ decoder reads one tag dimension: not applicable); `identical` as in the speedup table.\n")
    rows = []
    for r in t4:
        b = r.get("baseline")
        rows.append([f"`{r['preset']}`", r["people"], r["people_found"], ms(r["l1"]["median_ms"]),
                     ms(r["l2"]["median_ms"]), ms(r["l2"]["metrics"]["refine_ms"]),
                     ms(b["baseline"]["median_ms"]) if b else "n/a", f"{b['speedup']:.0f}x" if b else "n/a",
                     yes_no(b["keypoints_identical"]) if b else "n/a"])
    w(md_table(["preset", "people in scene", "people found (L=2)", "L=1 ms", "L=2 ms", "L=2 refine ms",
                "baseline ms (L=2)", "speedup (L=2)", "identical"], rows))
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------------------------------------

def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="few repeats (CI smoke run)")
    ap.add_argument("--json", metavar="PATH", type=Path, help="also write all results as JSON to PATH")
    args = ap.parse_args(argv)
    mode = QUICK if args.quick else THOROUGH

    started = time.perf_counter()
    facts = machine_facts()
    # Build every scene up front so scene generation is never inside a measurement.
    for size in TABLE1_SIZES:
        for people in TABLE1_PEOPLE:
            preset_inputs("higherhrnet", size, people)
    for people in TABLE2_PEOPLE:
        for preset in ("higherhrnet", "omz", "mmpose"):
            preset_inputs(preset, TABLE2_SIZE, people)
    for preset in ("higherhrnet", "mmpose", "omz"):
        batch(preset, BATCH_N, BATCH_SIZE, BATCH_PEOPLE)
        for people in TABLE2_PEOPLE:
            preset_inputs(preset, TABLE2_SIZE, people, tag_dim=2)

    t1 = table1(mode)
    t2 = table2(mode)
    t3 = table3(mode)
    t4 = table4(mode)
    ok_mmpose, _ = oracles.mmpose_available()
    if ok_mmpose:
        import torch

        facts["torch_threads_mmpose_baseline"] = torch.get_num_threads()
    elapsed = time.perf_counter() - started
    if hasattr(os, "getloadavg"):
        facts["load_average_1min_at_end"] = round(os.getloadavg()[0], 2)
    if native_module_mtime() != facts["native_module_mtime"]:
        facts["warning"] = ("hrdecode's native module was replaced on disk during this run; the numbers are "
                            "from the build loaded at start. Rerun to measure the new build.")

    text = render(facts, mode, t1, t2, t3, t4)
    print(text)
    print(f"\n_Report measured in {elapsed:.0f} s._")
    if args.json:
        payload = dict(machine=facts, mode=asdict(mode), elapsed_s=elapsed,
                       scenes=dict(table1=[scene_params(s, p) for s in TABLE1_SIZES for p in TABLE1_PEOPLE],
                                   table2=[scene_params(TABLE2_SIZE, p) for p in TABLE2_PEOPLE],
                                   table3=dict(n=BATCH_N, **scene_params(BATCH_SIZE, BATCH_PEOPLE)),
                                   table4=[scene_params(TABLE2_SIZE, p, tag_dim=2) for p in TABLE2_PEOPLE]),
                       table1=t1, table2=t2, table3=t3, table4=t4)
        args.json.write_text(json.dumps(payload, indent=2, default=float) + "\n", encoding="utf-8")
    identical = all(s["keypoints_identical"] for r in t2 if r["available"] for s in r["scenes"])
    identical &= all(r["identical_across_threads"] for r in t3)
    identical &= all(r["baseline"]["keypoints_identical"] for r in t4 if "baseline" in r)
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
