#!/usr/bin/env bash
# Install the two reference decoders used by tests/oracles.py (pytest -m oracle)
# into the Python environment of $PY (default: `python3` on PATH, i.e. the
# active venv). Works in a fresh venv with or without --system-site-packages.
#
#   PY=/path/to/venv/bin/python bash INSTALL.sh
#
# Measured on this machine kind (2 cores, Python 3.11, fresh venv without
# system site packages, pip cache off): ~75 s of pip (torch step ~40 s), 86 s
# with venv creation and the smoke import; 1.6 GB in the venv (torch 754 MB,
# openvino 140 MB). Wheels: ~404 MB, of which ~62 MB came from PyPI over the
# network (openvino 44.7 MB, pillow, fonttools, mmpose, ...) and ~341 MB from
# this machine's local wheel dirs (torch 192 MB from /opt/wheels, opencv-python
# 74 MB, scipy 35 MB, numpy 17 MB, ...). An idempotent re-run takes ~16 s.
#
# Why each step is as it is:
#  * torch is pinned to the local CPU wheel; every later step also gets a
#    torch==2.13.0 constraint, so nothing can pull another (CUDA, multi-GB) torch.
#  * mmpose 1.3.2 is installed --no-deps: its metadata requires torchvision
#    (PyPI's torchvision does not work beside the local torch 2.13.0 wheel and
#    would drag in another torch), xtcocotools, chumpy and json-tricks -- none
#    of which `from mmpose.codecs import AssociativeEmbedding` imports. What that import
#    does need: torch, mmengine, mmcv (mmcv-lite, pure Python, < 2.2 as mmpose
#    checks), cv2, munkres, numpy (+ mmengine's own deps).
#  * munkres==1.1.4 exactly: mmpose groups with it; 3.x breaks ties differently.
#  * openvino-model-api 0.2.5.4 is installed --no-deps: it requires
#    openvino-dev==2024.*, which the decoder never uses and which would
#    downgrade numpy to 1.26.4 and networkx to 3.1 (pip dry-run). Its
#    package import chain (model_api/__init__ -> models -> adapters/utils.py)
#    does `from openvino.runtime import ...`, so openvino 2024.x is needed
#    (openvino.runtime is deprecated since 2025.0). openvino is also installed
#    --no-deps because its metadata caps numpy<2.2 and would downgrade the
#    environment's numpy; import and the (pure numpy/scipy) decoder work on
#    numpy 2.4 (outputs checked identical to numpy 2.1.3). The decoder itself
#    needs scipy (scipy.optimize.linear_sum_assignment); the package also
#    imports cv2 at import time.
#  * `pip check` will therefore list mmpose's and openvino's unmet/capped
#    requirements; that is expected. Don't run `pip check` as a gate here.
set -euo pipefail

PY=${PY:-python3}
CONSTRAINTS=$(mktemp)
trap 'rm -f "$CONSTRAINTS"' EXIT
echo "torch==2.13.0" > "$CONSTRAINTS"
pipi() {
  local t0; t0=$(date +%s%N)
  "$PY" -m pip install --no-input --disable-pip-version-check -c "$CONSTRAINTS" "$@"
  echo "[oracles-install] pip install $* : $(( ($(date +%s%N) - t0) / 1000000 )) ms" >&2
}

# Oracle 1: mmpose 1.x AssociativeEmbedding codec
pipi "torch==2.13.0"
pipi "mmengine==0.10.7" "mmcv-lite==2.1.0"
pipi --no-deps "mmpose==1.3.2"
pipi "munkres==1.1.4"

# Oracle 2: Open Model Zoo / openvino model_api AssociativeEmbeddingDecoder
pipi "numpy>=1.22" "scipy>=1.6" opencv-python "packaging" "openvino-telemetry>=2023.2.1"
pipi --no-deps "openvino==2024.6.0" "openvino-model-api==0.2.5.4"

# Smoke check: both oracles import (prints the versions in use).
"$PY" - <<'EOF'
import warnings
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from model_api.models.hpe_associative_embedding import AssociativeEmbeddingDecoder  # noqa: F401
from mmpose.codecs import AssociativeEmbedding  # noqa: F401
import importlib.metadata as md
import numpy, torch
assert torch.__version__.startswith("2.13.0"), torch.__version__
assert md.version("munkres") == "1.1.4"
print("oracles ok:", ", ".join(f"{d} {md.version(d)}" for d in
      ("torch", "mmpose", "mmcv-lite", "mmengine", "munkres", "openvino-model-api", "openvino", "numpy", "scipy")))
EOF
