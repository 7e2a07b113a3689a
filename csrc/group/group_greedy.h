// Greedy joint-order grouping of candidates into people by tag distance (associative embedding).
//
// For each joint type in joint_order: the candidates of that joint are rows, the existing people are
// columns; cost = round(dist) * 100 - val (or dist alone), padded to square with 1e10 columns when there
// are more rows than people; a Hungarian solver assigns rows; a row joins its person when the raw tag
// distance is below tag_threshold and otherwise starts a new person. People are kept in creation order and
// identified by integer ids (the references key them by a float tag value, so two people whose first tag
// is bit-identical merge there; they stay apart here: the one documented deviation).
//
// Reference differences handled here (see shared/design/reference-decoders.md A.4, B.1, B.3):
//   HigherHRNet: only the first max_people people are match candidates; ignore_too_much skips a joint type
//                once >= max_people people exist; person tag = float32 mean of its tags (numpy order);
//                distances in float64; munkres 1.1.4.
//   mmpose:      all people are candidates; otherwise as HigherHRNet.
//   OMZ:         all people are candidates; person tag and centre are running means (float32 / float64);
//                distances in float32; optional distance reweighting; ignore_too_much skips only when
//                exactly max_people people exist; scipy's LSAP.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/types.h"

namespace hrd {

struct GroupParams {
  Variant variant;
  Solver solver;
  int K, M, L;
  const int* joint_order;  // K
  double tag_threshold;
  bool use_detection_val;
  bool ignore_too_much;
  bool dist_reweight;
  int max_people;
  // Optional: called with joint k before its candidates are first read, in joint order (the CPU decode
  // groups while other threads are still finding the later joints' candidates; ready waits for them).
  void (*ready)(void* ctx, int k) = nullptr;
  void* ready_ctx = nullptr;
};

// Candidates of one image (already thresholded and in top-k order).
struct Candidates {
  const Peak* peaks;  // KxM
  const int* count;   // K
  const float* tags;  // KxMxL
  int W;              // map width, to turn flat indices into (x, y)
};

// The people found, in creation order. Grows as needed; reused across calls without shrinking.
struct Groups {
  int P = 0;
  std::vector<int32_t> cand;       // PxK: candidate index m of joint k, or -1 if missing
  std::vector<int32_t> tag_order;  // PxK: joints in the order their tags were added (HH/mmpose tag lists)
  std::vector<int32_t> n_added;    // P
  std::vector<float> tag_mean;     // PxL: HH/mmpose cached list mean; OMZ running mean
  std::vector<uint8_t> mean_dirty; // P
  std::vector<double> center;      // Px2 running mean of (x, y)
  // scratch for one joint step
  std::vector<double> dist;        // R x G raw distances (as double; OMZ values are float32-exact)
  std::vector<double> cost;        // R x max(R, G)
  std::vector<int32_t> assign;     // R
  std::vector<double> cdist;       // R x G centre distances (reweighting)
  std::vector<float> tmp;          // K x L scratch for list means
  std::vector<std::max_align_t> solver_ws;
};

// Returns 0, or a negative solver status (input the solver refused: reported as an error).
int group_greedy(const GroupParams& prm, const Candidates& cands, Groups& out);

}  // namespace hrd
