#pragma once
#include "common/types.h"

namespace hrd {

// NMS + threshold + top-M of one joint map, fused (see nms_rule.h for the candidate rule and
// topk/topk_order.h for the order). out is sorted best first. Returns the number written (<= M).
// Pixels are visited in raster order but only those above the threshold are examined, which gives the
// same set as applying the per-pixel rule everywhere (tests/test_decoder.py proves it on the NumPy rule).
int topk_candidates_hw(const float* heat,  // HxW
                       int H, int W,
                       int radius,          // 0: map already suppressed
                       double threshold,
                       int M,
                       Peak* out);          // M
}  // namespace hrd
