"""Backends every decoder test runs on: cpu and emu always, cuda when a device answers.

HRDECODE_TEST_BACKENDS=cpu,emu restricts the list (CI runs the emu schedules with emu only);
HRDECODE_REQUIRE_CUDA=1 turns a missing CUDA device into a failure instead of a skip.
"""
from __future__ import annotations

import os

import pytest

import hrdecode


def _backends() -> list:
    out = ["cpu", "emu"]
    why = hrdecode.cuda_unavailable_reason()
    if why is None:
        out.append("cuda")
    elif os.environ.get("HRDECODE_REQUIRE_CUDA", "") not in ("", "0"):
        raise pytest.UsageError(f"HRDECODE_REQUIRE_CUDA is set but the CUDA backend is not usable: {why}")
    wanted = os.environ.get("HRDECODE_TEST_BACKENDS")
    if wanted:
        out = [b for b in out if b in wanted.split(",")]
    return out


BACKENDS = _backends()


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


def pytest_report_header(config):
    info = hrdecode.build_info()
    return [f"hrdecode {info['version']}: backends under test {BACKENDS}; emu schedule {info['emu_mode']}; "
            f"cuda: {info['cuda_message']}"]
