// DARK-UDP log maps on the device (dark_rule.h, "mmpose DARK-UDP"): per map, the maximum of the finite
// pixels, the row pass, the column pass with the blurred maximum, then the log values in place. Maxima are
// atomicMax over ordered_bits keys, so the result does not depend on the schedule. The CPU twin is
// udp_cpu.h.
#pragma once
#include "common/numeric.h"
#include "cuda/cuda_compat.h"
#include "dark/dark_rule.h"

namespace hrd {
namespace HR_NS {

// omax: NK keys (zeroed by the caller; 0 stays 0 for a map without a finite pixel).
HR_KERNEL void udp_max_kernel(const float* __restrict__ heat, int64_t NK, int64_t HW, unsigned* __restrict__ omax) {
  const int64_t total = NK * HW, stride = int64_t(blockDim.x) * gridDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride)
    if (is_finite(heat[i])) atomicMax(&omax[i / HW], ordered_bits(heat[i]));
}

// rows: (NK)xHxW row pass.
HR_KERNEL void udp_row_kernel(const float* __restrict__ heat, int64_t NK, int H, int W, DarkSpec spec,
                              float* __restrict__ rows) {
  const int64_t HW = int64_t(H) * W, total = NK * HW, stride = int64_t(blockDim.x) * gridDim.x;
  const int r = (spec.taps - 1) / 2;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride) {
    const int64_t map = i / HW, p = i - map * HW;
    rows[i] = udp_blur_row_at(heat + map * HW, W, int(p / W), int(p % W), spec.kf, r);
  }
}

// blurred: (NK)xHxW column pass; bmax: NK keys of the blurred maxima (zeroed by the caller).
HR_KERNEL void udp_col_kernel(const float* __restrict__ rows, int64_t NK, int H, int W, DarkSpec spec,
                              float* __restrict__ blurred, unsigned* __restrict__ bmax) {
  const int64_t HW = int64_t(H) * W, total = NK * HW, stride = int64_t(blockDim.x) * gridDim.x;
  const int r = (spec.taps - 1) / 2;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride) {
    const int64_t map = i / HW, p = i - map * HW;
    const float b = udp_blur_col_at(rows + map * HW, H, W, int(p / W), int(p % W), spec.kf, r);
    blurred[i] = b;
    atomicMax(&bmax[map], ordered_bits(b));
  }
}

// In place: blurred -> log map.
HR_KERNEL void udp_log_kernel(float* __restrict__ maps, int64_t NK, int64_t HW, const unsigned* __restrict__ omax,
                              const unsigned* __restrict__ bmax) {
  const int64_t total = NK * HW, stride = int64_t(blockDim.x) * gridDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride) {
    const int64_t map = i / HW;
    const float om = omax[map] == 0 ? 0.0f : ordered_value(omax[map]);
    maps[i] = udp_log(maps[i], udp_factor(om, ordered_value(bmax[map])));
  }
}

}  // namespace HR_NS
}  // namespace hrd
