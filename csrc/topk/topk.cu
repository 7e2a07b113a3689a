// Per-joint top-M on the device, in the project's total order (topk_order.h), and the candidates' tags and
// adjust shifts. Deterministic whatever the schedule: each output slot is a candidate's rank, a pure
// function of the candidate set. The CPU twin is nms_cpu.cpp's fused insertion.
#pragma once
#include "common/types.h"
#include "cuda/cuda_compat.h"
#include "nms/nms_rule.h"
#include "refine/refine_rule.h"
#include "topk/topk_order.h"

namespace hrd {
namespace HR_NS {

// Maps whose candidates all fit (count <= C): candidate j's rank = how many candidates rank before it; the
// first M ranks are written in order. peaks: (NK)xM, npeaks: NK. Overflowing maps are left to the rounds.
HR_KERNEL void topk_rank_kernel(const Peak* __restrict__ cand, const int* __restrict__ count, int64_t NK, int C,
                                int M, Peak* __restrict__ peaks, int* __restrict__ npeaks) {
  const int64_t total = NK * C, stride = int64_t(blockDim.x) * gridDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride) {
    const int64_t map = i / C;
    const int j = int(i - map * C), n = count[map];
    // An overflowing map has no peaks until the selection rounds fill it (its details must not be read).
    if (j == 0) npeaks[map] = n > C ? 0 : (n < M ? n : M);
    if (n > C || j >= n) continue;
    const Peak* c = cand + map * C;
    const Peak p = c[j];
    int rank = 0;
    for (int q = 0; q < n; ++q) rank += ranks_before(c[q], p) ? 1 : 0;
    if (rank < M) peaks[map * M + rank] = p;
  }
}

// Overflowing maps (count > C), round r of M: the largest topk_key below round r-1's, over every candidate
// of the map (keys (NK)xM zeroed by the caller; a key is never 0). Exact and order-free (atomicMax).
HR_KERNEL void topk_round_kernel(const float* __restrict__ heat, int64_t NK, int H, int W, int radius, float thr,
                                 const int* __restrict__ count, int C, int M, int r,
                                 unsigned long long* __restrict__ keys) {
  const int64_t HW = int64_t(H) * W, total = NK * HW;
  const int64_t stride = int64_t(blockDim.x) * gridDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride) {
    const int64_t map = i / HW;
    if (count[map] <= C) continue;
    const unsigned long long below = r == 0 ? ~0ull : keys[map * M + r - 1];
    if (below == 0) continue;  // fewer than r candidates: nothing left
    const int idx = int(i - map * HW);
    const float* m = heat + map * HW;
    if (!is_candidate(m, H, W, idx / W, idx - (idx / W) * W, radius, thr)) continue;
    const unsigned long long key = topk_key(Peak{m[idx], idx});
    if (key < below) atomicMax(&keys[map * M + r], key);
  }
}

// Overflowing maps: the round keys into the peak list (the value read back from the map, so -0.0 stays).
HR_KERNEL void topk_rounds_to_peaks_kernel(const float* __restrict__ heat, int64_t NK, int64_t HW,
                                           const int* __restrict__ count, int C, int M,
                                           const unsigned long long* __restrict__ keys, Peak* __restrict__ peaks,
                                           int* __restrict__ npeaks) {
  const int64_t stride = int64_t(blockDim.x) * gridDim.x;
  for (int64_t map = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; map < NK; map += stride) {
    if (count[map] <= C) continue;
    int n = 0;
    for (int r = 0; r < M && keys[map * M + r] != 0; ++r, ++n) {
      const int idx = key_index(keys[map * M + r]);
      peaks[map * M + r] = Peak{heat[map * HW + idx], idx};
    }
    npeaks[map] = n;
  }
}

// For each kept candidate: its tag (L values) and its shift (joint_shift: DARK or adjust). ctags (NK)xMxL, shifts (NK)xMx2.
HR_KERNEL void candidate_details_kernel(const float* __restrict__ heat, const float* __restrict__ tags, int64_t NK,
                                        int H, int W, int L, int M, const Peak* __restrict__ peaks,
                                        const int* __restrict__ npeaks, Variant variant, bool heat_abs,
                                        bool adjust, DarkSpec dark, float* __restrict__ ctags,
                                        float* __restrict__ shifts) {
  const int64_t HW = int64_t(H) * W, total = NK * M;
  const int64_t stride = int64_t(blockDim.x) * gridDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride) {
    const int64_t map = i / M;
    if (int(i - map * M) >= npeaks[map]) continue;
    const int idx = peaks[i].idx;
    const float* t = tags + (map * HW + idx) * L;
    for (int l = 0; l < L; ++l) ctags[i * L + l] = t[l];
    joint_shift(variant, heat + map * HW, H, W, idx % W, idx / W, heat_abs, adjust, dark, &shifts[2 * i],
                &shifts[2 * i + 1]);
  }
}

}  // namespace HR_NS
}  // namespace hrd
