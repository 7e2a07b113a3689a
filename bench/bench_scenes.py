"""Scenes and inputs shared by ``bench_decode.py`` and ``report.py``.

Every benchmark input is a synthetic scene from :mod:`hrdecode.synthetic` with fixed parameters
(17 COCO joints, tag length L = 1, square maps, a fixed seed, all other ``SceneConfig`` fields at their
defaults), so the pytest-benchmark numbers and the report's tables are measured on the same arrays.

The OMZ preset decodes the OMZ model's output, in which non-peaks are negated; its input is made with
``tests/oracles.py:omz_signed_heatmaps`` (NumPy only), which is why ``tests/`` is put on ``sys.path``.
"""
from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Any, Dict, Tuple

import numpy as np

from hrdecode import synthetic

TESTS_DIR = Path(__file__).resolve().parent.parent / "tests"
if str(TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(TESTS_DIR))

import oracles  # noqa: E402  (tests/oracles.py; imports no reference package until an oracle is used)

__all__ = ["PRESETS", "NUM_JOINTS", "SEED", "oracles", "scene_params", "scene", "batch", "preset_inputs"]

PRESETS: Tuple[str, ...] = ("higherhrnet", "mmpose", "omz")
NUM_JOINTS = 17
TAG_DIM = 1
SEED = 0


def scene_params(size: int, people: int, seed: int = SEED, tag_dim: int = TAG_DIM) -> Dict[str, Any]:
    """The ``synthetic.make_scene`` keyword arguments of a benchmark scene (all other fields default).
    ``tag_dim=2`` gives tag pairs as HigherHRNet's flip test stacks them (a person's second tag close to
    its first)."""
    return dict(height=size, width=size, num_people=people, num_joints=NUM_JOINTS, tag_dim=tag_dim, seed=seed)


@functools.lru_cache(maxsize=None)
def scene(size: int, people: int, seed: int = SEED, tag_dim: int = TAG_DIM) -> synthetic.Scene:
    """One cached synthetic scene: heatmaps (17, size, size), tags (17, size, size, tag_dim)."""
    return synthetic.make_scene(**scene_params(size, people, seed, tag_dim))


@functools.lru_cache(maxsize=None)
def batch(preset: str, n: int, size: int, people: int, seed: int = SEED) -> Tuple[np.ndarray, np.ndarray]:
    """Cached batch of n scenes with seeds seed..seed+n-1, as ``Decoder(preset)`` takes it:
    heatmaps (n, 17, size, size) (signed for "omz"), tags (n, 17, size, size, 1)."""
    heat, tags, _ = synthetic.make_batch(n, **scene_params(size, people, seed))
    if preset == "omz":
        heat = oracles.omz_signed_heatmaps(heat)
    return heat, tags


@functools.lru_cache(maxsize=None)
def preset_inputs(preset: str, size: int, people: int, seed: int = SEED,
                  tag_dim: int = TAG_DIM) -> Tuple[np.ndarray, np.ndarray]:
    """(heatmaps, tags) as ``Decoder(preset)`` takes them: OMZ-style signed heatmaps for "omz"."""
    s = scene(size, people, seed, tag_dim)
    if preset == "omz":
        return oracles.omz_signed_heatmaps(s.heatmaps), s.tags
    return s.heatmaps, s.tags
