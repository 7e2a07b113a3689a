// NMS + threshold + candidate compaction on the device. The CPU twin is nms_cpu.cpp; both apply
// is_candidate (nms_rule.h). Compiled by nvcc (hrd::cuda) and, through cuda/cuda_compat.h, by the host
// compiler (hrd::emu).
#pragma once
#include "common/types.h"
#include "cuda/cuda_compat.h"
#include "nms/nms_rule.h"

namespace hrd {
namespace HR_NS {

// heat: (NK)xHxW. Every candidate takes a slot with atomicAdd: cand (NK)xC receives the first C of them in
// an unspecified order (top-k sorts them); count (NK, zeroed by the caller) receives how many there were,
// also beyond C, so an overflowing map is recognised.
HR_KERNEL void nms_compact_kernel(const float* __restrict__ heat, int64_t NK, int H, int W, int radius, float thr,
                                  int C, Peak* __restrict__ cand, int* __restrict__ count) {
  const int64_t HW = int64_t(H) * W, total = NK * HW;
  const int64_t stride = int64_t(blockDim.x) * gridDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride) {
    const int64_t map = i / HW;
    const int idx = int(i - map * HW);
    const float* m = heat + map * HW;
    if (!is_candidate(m, H, W, idx / W, idx - (idx / W) * W, radius, thr)) continue;
    const int slot = atomicAdd(&count[map], 1);
    if (slot < C) cand[map * C + slot] = Peak{m[idx], idx};
  }
}

}  // namespace HR_NS
}  // namespace hrd
