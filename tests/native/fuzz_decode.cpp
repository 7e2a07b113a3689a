// libFuzzer target over the native decode entry points (CPU backend and emulated CUDA backend).
//
// The input bytes choose the shape (K, H, W, L up to 8x16x16x3), the variant and every option, then fill the
// heat and tag maps as raw floats, so NaN, +-inf, denormals, -0 and huge values all occur. Every input must
// decode without a crash, leak or sanitizer report, give finite coordinates inside the documented box,
// and give bit-identical results on both backends; anything else traps.
//
//   clang++ -std=c++17 -O1 -g -fsanitize=fuzzer,address,undefined -Icsrc <core sources> \
//       tests/native/fuzz_decode.cpp -o fuzz_decode
//   ./fuzz_decode -max_total_time=60 corpus/        (.ci/fuzz.sh does this)
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "decode/decode.h"

using namespace hrd;

namespace {

struct Reader {
  const uint8_t* p;
  size_t n;
  uint8_t byte() {
    if (n == 0) return 0;
    --n;
    return *p++;
  }
  float f32() {
    uint32_t u = 0;
    for (int i = 0; i < 4; ++i) u |= uint32_t(byte()) << (8 * i);
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  }
};

[[noreturn]] void fail() { __builtin_trap(); }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Reader r{data, size};
  const int K = 1 + r.byte() % 8, H = 1 + r.byte() % 16, W = 1 + r.byte() % 16, L = 1 + r.byte() % 3;
  const uint8_t flags = r.byte(), opts = r.byte();
  DecodeParams p;
  p.variant = Variant(opts % 3);
  p.solver = (opts / 3) % 2 ? Solver::LSAP : Solver::Munkres114;
  p.nms_kernel = 1 + 2 * ((opts / 6) % 4);
  p.max_people = 1 + r.byte() % 12;
  p.device_candidates = 1 + r.byte() % 16;
  const double thresholds[] = {0.0, 0.1, 0.5, -1.0};
  p.detection_threshold = thresholds[(opts / 24) % 4];
  p.tag_threshold = (flags & 0x80) ? 0.5 : 1.0;
  p.adjust = flags & 1;
  p.refine = flags & 2;
  p.use_detection_val = flags & 4;
  p.ignore_too_much = flags & 8;
  p.dist_reweight = flags & 16;
  p.heat_abs = flags & 32;
  p.has_pose_threshold = flags & 64;
  p.pose_threshold = 0.05f;
  p.delta = (opts & 0x80) ? 0.0f : 0.5f;
  const uint8_t more = r.byte();
  p.dark = more & 1;
  p.blur_kernel = 1 + 2 * ((more >> 1) % 8);  // 1..15
  p.refine_own_tag = more & 0x80;
  p.use_udp = (more & 0x40) && p.variant == Variant::MMPose && !p.heat_abs;
  if (p.use_udp) p.dark = false;
  for (int k = 0; k < K; ++k) p.joint_order.push_back(k);
  if (K > 1 && (flags & 0x40)) std::swap(p.joint_order[0], p.joint_order[size_t(K) - 1]);

  const size_t nh = size_t(K) * H * W, nt = nh * L;
  std::vector<float> heat(nh), tags(nt);
  // Raw floats from the input; when it runs out, small values derived from the index keep maps busy.
  for (size_t i = 0; i < nh; ++i) heat[i] = r.n >= 4 ? r.f32() : float((i * 2654435761u) % 97) / 97.0f;
  for (size_t i = 0; i < nt; ++i) tags[i] = r.n >= 4 ? r.f32() : float((i * 40503u) % 13) - 6.0f;

  DecodeScratch scratch;
  DecodeOutput cpu;
  const int st = decode_image(p, heat.data(), tags.data(), K, H, W, L, scratch, cpu);
  std::vector<DecodeOutput> emu;
  int failed = -1;
  const int st2 = decode_batch_emu(p, heat.data(), tags.data(), 1, K, H, W, L, emu, &failed);
  if (st != 0 || st2 != 0) fail();  // solver failures must not happen on any input
  // bit-identical (NaN never occurs; -0 vs +0 would be a real difference)
  auto same_bits = [](const std::vector<float>& a, const std::vector<float>& b) {
    return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), sizeof(float) * a.size()) == 0);
  };
  if (cpu.P != emu[0].P || !same_bits(cpu.keypoints, emu[0].keypoints) || !same_bits(cpu.scores, emu[0].scores))
    fail();
  // the quarter shift moves at most 0.25 px, DARK stays inside the map, DARK-UDP ends at most 1 px outside
  const float reach = p.use_udp ? 1.0f : 0.25f;
  const float lo = std::fmin(0.0f, p.delta) - reach;
  for (int i = 0; i < cpu.P * K; ++i) {
    const float x = cpu.keypoints[size_t(i) * 3], y = cpu.keypoints[size_t(i) * 3 + 1];
    const float v = cpu.keypoints[size_t(i) * 3 + 2];
    if (!std::isfinite(x) || !std::isfinite(y) || !std::isfinite(v)) fail();
    if (x < lo || y < lo || x > float(W - 1) + std::fmax(0.0f, p.delta) + reach ||
        y > float(H - 1) + std::fmax(0.0f, p.delta) + reach)
      fail();
  }
  return 0;
}
