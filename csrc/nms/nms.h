#pragma once
#include "common/types.h"

namespace hrd {

// NMS + threshold + top-M of one joint map, fused (see nms_rule.h for the candidate rule and
// topk/topk_order.h for the order). out is sorted best first. Returns the number written (<= M).
// Pixels are visited in raster order but only those above the threshold are examined, which gives the
// same set as applying the per-pixel rule everywhere (tests/test_decoder.py proves it on the NumPy rule).
// tile_hmax (optional, (H+3)/4 x (W+3)/4): also fills the heat part of refine's 4x4 tile summaries
// (TileSummary::hmax, refine/refine.h) in the same pass over the map, as tile_heat_t4_hw does.
int topk_candidates_hw(const float* heat,  // HxW
                       int H, int W,
                       int radius,          // 0: map already suppressed
                       double threshold,
                       int M,
                       Peak* out,           // M
                       float* tile_hmax = nullptr, bool heat_abs = false);

// The hottest heat (|heat| if heat_abs) of every 4x4 tile: at least the largest finite value of the tile
// (+inf pixels may count), -inf if it has none, never NaN.
void tile_heat_t4_hw(const float* heat, int H, int W, bool heat_abs, float* hmax /* (H+3)/4 x (W+3)/4 */);

}  // namespace hrd
