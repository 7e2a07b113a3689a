// One image, end to end: candidates -> grouping -> adjust + score -> refine. Stage order only; every
// decision lives in the rule headers of its stage.
#pragma once
#include <atomic>
#include <memory>
#include <cstdint>
#include <vector>

#include "common/types.h"
#include "dark/dark_rule.h"
#include "group/group_greedy.h"

namespace hrd {

struct DecodeParams {
  Variant variant = Variant::HigherHRNet;
  Solver solver = Solver::Munkres114;
  int max_people = 30;               // top-k per joint; HH: match-candidate cap; mmpose: output cap
  double detection_threshold = 0.1;  // candidate: value > threshold (compared in double, as NumPy does)
  double tag_threshold = 1.0;        // join: raw tag distance < threshold
  int nms_kernel = 5;                // odd; 1 = the map is already suppressed (OMZ models)
  bool use_detection_val = true;
  bool ignore_too_much = false;
  bool adjust = true;
  bool refine = true;
  bool dist_reweight = false;
  bool refine_own_tag = true;        // OMZ: refine kept person j with its own tag; false: model_api's
                                     // pairing with the tag of the j-th person before the score filter
  bool use_udp = false;              // mmpose variant: the codec's DARK-UDP step and fill on its log maps
  bool dark = false;                 // bottom-up DARK step for detected and refined joints (dark_rule.h)
  int blur_kernel = 11;              // odd, 1..kMaxBlurTaps: DARK's Gaussian blur
  bool heat_abs = false;             // OMZ: maps are signed (non-peaks negated); decode |heat|
  float delta = 0.5f;                // pixel-centre offset added to adjusted joints
  bool has_pose_threshold = false;
  float pose_threshold = 0.0f;       // keep people with score > pose_threshold
  std::vector<int32_t> joint_order;  // K, a permutation of 0..K-1
  int tile = 4;                      // refine fine tile size (speed only; results do not depend on it)
  int device_candidates = 1024;      // emu/cuda: NMS survivors kept per map before top-k; a map with more
                                     // takes the exact selection-rounds path (speed only)
  int threads = 1;                   // threads for one image's joints and refine searches (results do not depend on it)
};

struct StageTimes {
  // Wall times. On the CPU without DARK the first stages overlap: candidates_ms runs until the last joint's
  // candidates are found, group_ms from the grouping's start (with the first joint's candidates) to its
  // end, waits for later joints' candidates included.
  double candidates_ms = 0, group_ms = 0, adjust_ms = 0, refine_ms = 0, total_ms = 0;
  double refine_tiles_ms = 0;   // CPU time of the per-joint tile summaries (built within refine_ms)
  int64_t refine_searches = 0;
  int64_t refine_pixels = 0;     // pixels evaluated by the searches
};

struct DecodeOutput {
  int P = 0;
  std::vector<float> keypoints;  // PxKx3: x, y, score
  std::vector<float> scores;     // P
  StageTimes times;
};

// Per-thread working memory; vectors grow to the largest image seen and are then reused.
struct DecodeScratch {
  std::vector<Peak> peaks;      // KxM
  std::vector<int32_t> counts;  // K
  std::vector<float> ctags;     // KxMxL
  std::vector<float> shifts;    // KxMx2 adjust shift (x, y) of each candidate
  Groups groups;
  std::vector<float> kp;        // PxKx3 working keypoints
  std::vector<float> score;     // P
  std::vector<int32_t> keep;    // people kept, in order
  int NP = 0;                   // entries of keep
  std::vector<float> summaries;      // K x tile_summary_words
  std::vector<double> tiles_ns;      // K: time spent on each joint's tile summaries
  std::vector<uint8_t> summarised;   // K: joint k's tile summaries were built during the grouping
  std::vector<float> ptags;          // NPxL: the tag each kept person's refine searches with
  std::vector<uint8_t> has_ptag;     // NP: 0 if the person has no tag (no detected joint): no search
  std::vector<float> tag_rows;       // KxL: a person's detected joints' tags
  std::vector<int64_t> searches, pixels;  // per joint, refine statistics
  std::vector<float> udp_log;        // KxHxW: DARK-UDP log maps (use_udp)
  std::unique_ptr<std::atomic<int>[]> joint_state;  // K: candidates of joint k 0 to find, 1 being found, 2 found
  int joint_state_n = 0;
  std::vector<double> cand_end_ns;   // K: when joint k's candidates were ready (ns after the decode started)
};

// OMZ refine: the row of s.groups.tag_mean that kept person j searches with. model_api indexes its tags
// with the position among the *kept* poses (ans_tags[0][i] after the score mask), so kept pose j gets the
// tag of pose j before the filter; refine_own_tag = false reproduces that, true uses the person's own tag.
inline int omz_tag_row(const DecodeParams& prm, const DecodeScratch& s, int j) {
  return prm.refine_own_tag ? s.keep[size_t(j)] : j;
}

// The DARK blur kernel of prm (taps == 0 when prm.dark is off).
DarkSpec make_dark_spec(const DecodeParams& prm);

// heat: KxHxW, tags: KxHxWxL, both C-contiguous float32. Returns 0 or a negative solver status.
// The CPU backend.
int decode_image(const DecodeParams& prm, const float* heat, const float* tags, int K, int H, int W, int L,
                 DecodeScratch& scratch, DecodeOutput& out);

// Host stages shared by every backend. Inputs in s: peaks, counts, ctags, shifts (the candidates of one
// image, however they were found). Groups them, scores people, fills s.keep/s.NP with the people that go
// on to refine and applies the shifts to their joints. dark_heat: the image's KxHxW host maps when the
// DARK shifts are still to be computed (the CPU backend computes them only for the joints used), else
// null. ready/ready_ctx: GroupParams::ready (null: every joint's candidates are there already). Returns 0 or
// a negative solver status.
int group_and_score(const DecodeParams& prm, int K, int H, int W, int L, const float* dark_heat, DecodeScratch& s,
                    StageTimes& tm, void (*ready)(void*, int) = nullptr, void* ready_ctx = nullptr);

// The kept people of s (after refine) into out, applying the final pose-threshold filter.
void write_output(const DecodeParams& prm, int K, const DecodeScratch& s, DecodeOutput& out);

// The emulated-CUDA backend (the kernels of csrc/*/*.cu compiled as host C++): heat NxKxHxW and tags
// NxKxHxWxL in host memory. Fills outs (N). Returns 0, or a negative solver status with *failed the image.
int decode_batch_emu(const DecodeParams& prm, const float* heat, const float* tags, int N, int K, int H, int W,
                     int L, std::vector<DecodeOutput>& outs, int* failed);

// The CUDA backend: the same code under nvcc. inputs_on_device: heat/tags are device pointers (else host
// memory, copied once). stream: a cudaStream_t (0: the legacy default stream). device: the CUDA device
// the inputs live on (made current for the call), -1: the current device. Throws std::runtime_error on a
// CUDA error, naming the call.
int decode_batch_cuda(const DecodeParams& prm, const float* heat, const float* tags, int N, int K, int H,
                      int W, int L, bool inputs_on_device, uintptr_t stream, int device,
                      std::vector<DecodeOutput>& outs, int* failed);

}  // namespace hrd
