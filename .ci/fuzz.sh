#!/usr/bin/env bash
# Coverage-guided fuzzing (libFuzzer + ASan + UBSan) of the native decode entry points, CPU and emulated
# CUDA backends compared on every input (tests/native/fuzz_decode.cpp).
# Usage: bash .ci/fuzz.sh [seconds=60] [build dir]. Needs clang with libFuzzer (Debian: clang
# libclang-rt-14-dev). A longer run: bash .ci/fuzz.sh 3600
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-60}
OUT=${2:-build/fuzz}
CXX=${FUZZ_CXX:-clang++}
if ! command -v "$CXX" >/dev/null 2>&1; then
  echo "fuzz: $CXX not found (apt-get install clang libclang-rt-14-dev)" >&2
  exit 2
fi
mkdir -p "$OUT/corpus"
"$CXX" -std=c++17 -O1 -g -fno-omit-frame-pointer -ffp-contract=off -fsanitize=fuzzer,address,undefined \
  -fno-sanitize-recover=undefined -Icsrc -pthread \
  csrc/nms/nms_cpu.cpp csrc/group/munkres.cpp csrc/group/lsap.cpp csrc/group/group_greedy.cpp \
  csrc/refine/refine_cpu.cpp csrc/decode/decode.cpp csrc/common/thread_pool.cpp csrc/cuda/emu_runtime.cpp \
  csrc/decode/decode_emu.cpp tests/native/fuzz_decode.cpp -o "$OUT/fuzz_decode"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  "$OUT/fuzz_decode" -max_total_time="$SECS" -max_len=8192 -print_final_stats=1 -artifact_prefix="$OUT/" \
  "$OUT/corpus"
echo "fuzz: $SECS s without a finding"
