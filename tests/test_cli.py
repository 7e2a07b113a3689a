"""The command line: `hrdecode demo` is the main job of the README's first command."""
from __future__ import annotations

import subprocess
import sys


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hrdecode", *args], capture_output=True, text=True, timeout=300)


def test_demo_runs_and_says_input_is_synthetic():
    p = run("demo", "--size", "64", "--people", "4", "--seed", "3", "--repeats", "2")
    assert p.returncode == 0, p.stderr
    out = p.stdout
    assert "SYNTHETIC" in out
    for preset in ("higherhrnet", "mmpose", "omz"):
        assert preset in out
    assert "outputs identical: yes" in out
    assert "x faster" in out


def test_demo_tag_dim_and_zero_people():
    p = run("demo", "--size", "48", "--people", "0", "--tag-dim", "2", "--repeats", "1")
    assert p.returncode == 0, p.stderr
    assert "0 people" in p.stdout or "ground truth: 0 people" in p.stdout


def test_demo_rejects_bad_arguments():
    p = run("demo", "--size", "2")
    assert p.returncode == 2 and "--size" in p.stderr
    p = run("demo", "--people", "x")
    assert p.returncode == 2


def test_info():
    p = run("info")
    assert p.returncode == 0 and "cuda_compiled" in p.stdout and "version" in p.stdout
