// Shared plain types. Dimension letters (fixed project-wide, see README):
//   N batch, K joints, H/W map height/width, L tag length, M candidates per joint, P people.
#pragma once
#include <cstdint>

namespace hrd {

// A candidate keypoint: heat value and flat pixel index (y * W + x) in its joint's map.
struct Peak {
  float val;
  int32_t idx;
};

// Which reference decoder's rules a decode follows. Every step that differs between the references
// switches on this, in one place per step.
enum class Variant : int32_t {
  HigherHRNet = 0,  // HigherHRNet lib/core/group.py HeatmapParser.parse
  MMPose = 1,       // mmpose 1.x codecs/associative_embedding.py AssociativeEmbedding.batch_decode
  OMZ = 2,          // Open Model Zoo / model_api AssociativeEmbeddingDecoder
};

enum class Solver : int32_t {
  Munkres114 = 0,  // munkres==1.1.4 (HigherHRNet, mmpose)
  LSAP = 1,        // scipy.optimize.linear_sum_assignment (OMZ)
};

}  // namespace hrd
