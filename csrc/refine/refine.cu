// Missing-joint search ("refine") on the device: for every (person, missing joint) query, the argmax over the
// joint's map of heat - penalty(tag, person tag), first index on ties, as one 64-bit atomicMax per thread
// (refine_key). Nothing of size P x K x H x W is materialised. The CPU twin is refine_cpu.cpp (an exact
// pruned search); both use refine_rule.h.
#pragma once
#include "common/numeric.h"
#include "common/types.h"
#include "cuda/cuda_compat.h"
#include "refine/refine_rule.h"

namespace hrd {
namespace HR_NS {

struct RefineQuery {
  int32_t map;     // n*K + k: the joint map searched
  int32_t person;  // row of the person-tag table
};

struct DeviceHit {
  int32_t idx;  // flat pixel index in the map, -1: nothing found
  float heat;   // heat (|heat| if heat_abs) there
  float sx, sy; // refine_hit_shift at that pixel
};

// HigherHRNet/mmpose person tags: person p averages the tags at pix[p*K .. p*K+npix[p]) (offsets into the
// batch's tag pixels, see person_tag_pixels) with numpy_mean_rows_f32. rows: PxKxL scratch; ptag: PxL.
HR_KERNEL void person_tag_kernel(const float* __restrict__ tags, int L, int K, const int64_t* __restrict__ pix,
                                 const int* __restrict__ npix, int P, float* __restrict__ rows,
                                 float* __restrict__ ptag) {
  const int stride = int(blockDim.x * gridDim.x);
  for (int p = int(blockIdx.x * blockDim.x + threadIdx.x); p < P; p += stride) {
    const int n = npix[p];
    if (n == 0) continue;
    float* r = rows + int64_t(p) * K * L;
    for (int i = 0; i < n; ++i)
      for (int l = 0; l < L; ++l) r[i * L + l] = tags[pix[int64_t(p) * K + i] * L + l];
    numpy_mean_rows_f32(r, n, L, ptag + int64_t(p) * L);
  }
}

// blocks_per_query consecutive blocks share one query and stride over its map. keys: Q, zeroed by the caller.
template <Variant V, bool ABS>
HR_KERNEL void refine_search_kernel(const float* __restrict__ heat, const float* __restrict__ tags, int H, int W,
                                    int L, const RefineQuery* __restrict__ queries, int Q,
                                    const float* __restrict__ ptag, int blocks_per_query,
                                    unsigned long long* __restrict__ keys) {
  const int q = int(blockIdx.x) / blocks_per_query, part = int(blockIdx.x) % blocks_per_query;
  if (q >= Q) return;
  const int64_t HW = int64_t(H) * W;
  const RefineQuery rq = queries[q];
  const float* hk = heat + int64_t(rq.map) * HW;
  const float* tk = tags + int64_t(rq.map) * HW * L;
  const float* p = ptag + int64_t(rq.person) * L;
  unsigned long long best = 0;
  const int64_t stride = int64_t(blocks_per_query) * blockDim.x;
  for (int64_t i = int64_t(part) * blockDim.x + threadIdx.x; i < HW; i += stride) {
    const float h = ABS ? fabsf(hk[i]) : hk[i];
    if (!is_finite(h)) continue;
    const float s = refine_score(h, refine_penalty_t<V, 0>(tk + i * L, p, L));
    if (!is_finite(s)) continue;
    const unsigned long long key = refine_key(s, int32_t(i));
    best = key > best ? key : best;
  }
  if (best != 0) atomicMax(&keys[q], best);
}

HR_KERNEL void refine_finish_kernel(const float* __restrict__ heat, int H, int W,
                                    const RefineQuery* __restrict__ queries, int Q,
                                    const unsigned long long* __restrict__ keys, Variant variant, bool heat_abs,
                                    DarkSpec dark, DeviceHit* __restrict__ hits) {
  const int stride = int(blockDim.x * gridDim.x);
  for (int q = int(blockIdx.x * blockDim.x + threadIdx.x); q < Q; q += stride) {
    DeviceHit h{-1, 0.0f, 0.0f, 0.0f};
    if (keys[q] != 0) {
      const float* hk = heat + int64_t(queries[q].map) * H * W;
      h.idx = key_index(keys[q]);
      h.heat = heat_abs ? fabsf(hk[h.idx]) : hk[h.idx];
      refine_hit_shift(variant, hk, H, W, h.idx % W, h.idx / W, dark, &h.sx, &h.sy);
    }
    hits[q] = h;
  }
}

}  // namespace HR_NS
}  // namespace hrd
