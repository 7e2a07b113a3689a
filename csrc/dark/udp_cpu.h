// CPU: the DARK-UDP log map of one joint map (dark_rule.h, "mmpose DARK-UDP"), computed whole: the codec's
// fill step searches it. The loops run over padded rows so they vectorise; every output is the same
// additions, in the same order, as udp_blur_row_at / udp_blur_col_at.
#pragma once
#include <cstdint>
#include <vector>

#include "dark/dark_rule.h"

namespace hrd {

// map: HxW. rows: (H x W) scratch. pad: (W + 2r) scratch. out: HxW log map.
inline void udp_log_map_cpu(const float* map, int H, int W, const DarkSpec& spec, std::vector<float>& rows,
                            std::vector<float>& pad, float* out) {
  const int r = (spec.taps - 1) / 2;
  const float* k = spec.kf;
  const int64_t HW = int64_t(H) * W;
  rows.resize(size_t(HW));
  pad.assign(size_t(W + 2 * r), 0.0f);
  float orig_max;  // the greatest finite pixel, 0 if none
  argmax_first(map, HW, &orig_max);
  for (int y = 0; y < H; ++y) {
    const float* src = map + int64_t(y) * W;
    for (int x = 0; x < W; ++x) pad[size_t(r + x)] = finite_or_zero(src[x]);
    float* dst = rows.data() + int64_t(y) * W;
    const float* c = pad.data() + r;
    for (int x = 0; x < W; ++x) dst[x] = c[x] * k[r];
    for (int j = 1; j <= r; ++j)
      for (int x = 0; x < W; ++x) dst[x] = dst[x] + (c[x - j] + c[x + j]) * k[r + j];
  }
  float bmax = -INFINITY;
  for (int y = 0; y < H; ++y) {
    float* dst = out + int64_t(y) * W;
    const float* c = rows.data() + int64_t(y) * W;
    for (int x = 0; x < W; ++x) dst[x] = c[x] * k[r];
    for (int j = 1; j <= r; ++j) {
      const float* up = y - j >= 0 ? rows.data() + int64_t(y - j) * W : nullptr;
      const float* dn = y + j < H ? rows.data() + int64_t(y + j) * W : nullptr;
      for (int x = 0; x < W; ++x) dst[x] = dst[x] + ((up ? up[x] : 0.0f) + (dn ? dn[x] : 0.0f)) * k[r + j];
    }
    for (int x = 0; x < W; ++x) bmax = dst[x] > bmax ? dst[x] : bmax;
  }
  const float factor = udp_factor(orig_max, bmax);
  for (int64_t i = 0; i < HW; ++i) out[i] = udp_log(out[i], factor);
}

}  // namespace hrd
