"""pytest-benchmark latency benchmarks of ``hrdecode.Decoder`` (single image, CPU).

Run from the repository root::

    python -m pytest bench/bench_decode.py --benchmark-only -q
    python -m pytest bench/bench_decode.py --benchmark-only -q --benchmark-columns=min,median,iqr,rounds

Plain ``pytest`` does not collect this file (``testpaths = ["tests"]`` in pyproject.toml, and the file name
does not match ``test_*.py``); it runs only when named on the command line.

Cases: each preset ("higherhrnet", "mmpose", "omz") on 17x256x256 maps with 5 and 30 people and on 17x512x512
maps with 30 people, plus the baseline "copy the two input arrays once" (``np.copy`` of the heatmaps and of
the tags) on the same maps. Inputs are the synthetic scenes of ``bench_scenes.py`` (seed 0, L = 1); the
"omz" preset gets OMZ-style signed heatmaps. Each case runs 2 warm-up rounds and then a fixed number of
timed rounds (one call per round); pytest-benchmark reports min/median/IQR over the rounds.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Tuple

import numpy as np
import pytest

import hrdecode

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench_scenes, under any pytest --import-mode
from bench_scenes import PRESETS, preset_inputs  # noqa: E402

#: (map size, people) cases.
CASES: Tuple[Tuple[int, int], ...] = ((256, 5), (256, 30), (512, 30))
WARMUP_ROUNDS = 2


def _rounds(size: int, people: int) -> int:
    """Timed rounds per case: fewer for the slowest (512 x 512, 30 people) cases."""
    return 15 if size >= 512 and people >= 30 else 50


def _case_id(case: Tuple[int, int]) -> str:
    return f"17x{case[0]}x{case[0]}-{case[1]}p"


@pytest.mark.parametrize("case", CASES, ids=_case_id)
@pytest.mark.parametrize("preset", PRESETS)
def test_decode(benchmark: Any, preset: str, case: Tuple[int, int]) -> None:
    size, people = case
    heat, tags = preset_inputs(preset, size, people)
    dec = hrdecode.Decoder(preset)
    benchmark.group = _case_id(case)
    benchmark.extra_info.update(preset=preset, size=size, people=people)
    result = benchmark.pedantic(dec, args=(heat, tags), rounds=_rounds(size, people), iterations=1,
                                warmup_rounds=WARMUP_ROUNDS)
    assert isinstance(result, hrdecode.DecodeResult)
    benchmark.extra_info["people_found"] = result.num_people


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_copy_inputs_baseline(benchmark: Any, case: Tuple[int, int]) -> None:
    """Baseline: copy the heatmaps and the tags once each (np.copy), i.e. touch every input byte."""
    size, people = case
    heat, tags = preset_inputs("higherhrnet", size, people)

    def copy_both() -> Tuple[np.ndarray, np.ndarray]:
        return np.copy(heat), np.copy(tags)

    benchmark.group = _case_id(case)
    benchmark.extra_info.update(size=size, people=people)
    h2, t2 = benchmark.pedantic(copy_both, rounds=_rounds(size, people) * 2, iterations=1,
                                warmup_rounds=WARMUP_ROUNDS)
    assert h2.shape == heat.shape and t2.shape == tags.shape
