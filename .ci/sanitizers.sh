#!/usr/bin/env bash
# Native sanitizer runs of the device path (emulated CUDA) and the CPU backend, without Python:
#   ThreadSanitizer with the emulator's `threads` (inter-block) and `block` (intra-block) schedules,
#   AddressSanitizer + UndefinedBehaviorSanitizer with `serial` and `shuffle`.
# Usage: bash .ci/sanitizers.sh [build dir]   (about 2 minutes on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-build/sanitizers}
mkdir -p "$OUT"
SRC=(csrc/nms/nms_cpu.cpp csrc/group/munkres.cpp csrc/group/lsap.cpp csrc/group/group_greedy.cpp
     csrc/refine/refine_cpu.cpp csrc/decode/decode.cpp csrc/common/thread_pool.cpp csrc/cuda/emu_runtime.cpp
     csrc/decode/decode_emu.cpp tests/native/emu_smoke.cpp)
FLAGS=(-std=c++17 -O1 -g -fno-omit-frame-pointer -ffp-contract=off -Icsrc -pthread -Wall -Wextra)

g++ "${FLAGS[@]}" -fsanitize=thread "${SRC[@]}" -o "$OUT/smoke_tsan" &
g++ "${FLAGS[@]}" -fsanitize=address,undefined -fno-sanitize-recover=undefined "${SRC[@]}" -o "$OUT/smoke_asan" &
wait %1 && wait %2

export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
for mode in threads block; do
  echo "== ThreadSanitizer, HREMU_MODE=$mode"
  HREMU_MODE=$mode HREMU_WORKERS=3 "$OUT/smoke_tsan"
done
for mode in serial shuffle; do
  echo "== AddressSanitizer + UBSan, HREMU_MODE=$mode"
  HREMU_MODE=$mode HREMU_SEED=11 "$OUT/smoke_asan"
done
echo "sanitizers: clean"
