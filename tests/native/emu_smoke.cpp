// Native check of the device path without Python, for the sanitizer builds (.ci/sanitizers.sh):
// the emulated CUDA backend must equal the CPU backend exactly on random scenes, for every variant, with
// and without the top-k overflow path, and the CPU backend must give the same results when two host
// threads decode at once. Exit status 0 on success, 1 on a mismatch (sanitizers exit with their own).
//
//   HREMU_MODE=threads ./emu_smoke     (under -fsanitize=thread: inter-block races)
//   HREMU_MODE=block   ./emu_smoke     (intra-block races, barriers)
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include "cuda/emu_mode.h"
#include "common/thread_pool.h"
#include "decode/decode.h"

using namespace hrd;

namespace {

struct Scene {
  int N, K, H, W, L;
  std::vector<float> heat, tags;
};

// People as Gaussian peaks with a per-person tag, plus spurious peaks, noise, a plateau and a few NaNs.
Scene make_scene(unsigned seed, int N, int K, int H, int W, int L, int people) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> U(0.0f, 1.0f);
  std::normal_distribution<float> G(0.0f, 1.0f);
  Scene s{N, K, H, W, L, std::vector<float>(size_t(N) * K * H * W), std::vector<float>(size_t(N) * K * H * W * L)};
  for (int n = 0; n < N; ++n) {
    for (size_t i = 0; i < size_t(K) * H * W; ++i) {
      s.heat[size_t(n) * K * H * W + i] = 0.02f * G(rng);
      for (int l = 0; l < L; ++l) s.tags[(size_t(n) * K * H * W + i) * L + l] = 0.3f * G(rng);
    }
    for (int p = 0; p < people + 3; ++p) {
      const bool spurious = p >= people;
      const float tag = 2.0f * float(p);
      const float cx = U(rng) * W, cy = U(rng) * H;
      for (int k = 0; k < K; ++k) {
        if (spurious && k != p % K) continue;
        if (U(rng) < 0.15f) continue;  // invisible joint: refine has work
        const float x0 = cx + 6.0f * G(rng), y0 = cy + 6.0f * G(rng), a = 0.3f + 0.7f * U(rng);
        for (int y = 0; y < H; ++y)
          for (int x = 0; x < W; ++x) {
            const float d2 = (x - x0) * (x - x0) + (y - y0) * (y - y0);
            const size_t i = ((size_t(n) * K + k) * H + y) * W + x;
            const float v = a * std::exp(-d2 / 8.0f);
            if (v > s.heat[i]) s.heat[i] = v;
            if (d2 < 16.0f)
              for (int l = 0; l < L; ++l) s.tags[i * L + l] = tag + 0.1f * G(rng);
          }
      }
    }
    float* h0 = &s.heat[size_t(n) * K * H * W];
    h0[5 * W + 5] = h0[5 * W + 6] = 0.9f;  // a plateau: both pixels survive NMS
    h0[H * W + 3] = NAN;
    h0[2 * H * W + 7] = INFINITY;
  }
  return s;
}

bool same(const DecodeOutput& a, const DecodeOutput& b) {
  return a.P == b.P && a.keypoints.size() == b.keypoints.size() &&
         std::memcmp(a.keypoints.data(), b.keypoints.data(), sizeof(float) * a.keypoints.size()) == 0 &&
         std::memcmp(a.scores.data(), b.scores.data(), sizeof(float) * a.scores.size()) == 0;
}

DecodeParams params(Variant v, int K) {
  DecodeParams p;
  p.variant = v;
  p.solver = v == Variant::OMZ ? Solver::LSAP : Solver::Munkres114;
  p.dist_reweight = v == Variant::OMZ;
  for (int k = 0; k < K; ++k) p.joint_order.push_back(k);
  return p;
}

int failures = 0;

void check(const char* what, const Scene& s, const DecodeParams& p) {
  const int64_t hs = int64_t(s.K) * s.H * s.W;
  std::vector<DecodeOutput> cpu(size_t(s.N)), emu;
  DecodeScratch scratch;
  int people = 0;
  for (int n = 0; n < s.N; ++n) {
    if (decode_image(p, &s.heat[size_t(n * hs)], &s.tags[size_t(n * hs * s.L)], s.K, s.H, s.W, s.L, scratch,
                     cpu[size_t(n)]) != 0) {
      std::printf("FAIL %s: cpu decode status\n", what);
      ++failures;
      return;
    }
    people += cpu[size_t(n)].P;
  }
  int failed = -1;
  if (decode_batch_emu(p, s.heat.data(), s.tags.data(), s.N, s.K, s.H, s.W, s.L, emu, &failed) != 0) {
    std::printf("FAIL %s: emu decode status (image %d)\n", what, failed);
    ++failures;
    return;
  }
  for (int n = 0; n < s.N; ++n)
    if (!same(cpu[size_t(n)], emu[size_t(n)])) {
      std::printf("FAIL %s: image %d: cpu %d people, emu %d people\n", what, n, cpu[size_t(n)].P, emu[size_t(n)].P);
      ++failures;
      return;
    }
  std::printf("ok   %s (%d people)\n", what, people);
}

}  // namespace

int main() {
  std::printf("emu schedule: %s\n", emu::emu_mode_name(emu::emu_mode()));
  const Variant variants[] = {Variant::HigherHRNet, Variant::MMPose, Variant::OMZ};
  const char* names[] = {"higherhrnet", "mmpose", "omz"};
  for (int L : {1, 2}) {
    const Scene s = make_scene(17u + unsigned(L), 2, 5, 28, 36, L, 4);
    for (int v = 0; v < 3; ++v) {
      DecodeParams p = params(variants[v], s.K);
      if (variants[v] == Variant::OMZ) p.nms_kernel = 3;  // these maps are not NMS'ed in a model
      char what[96];
      std::snprintf(what, sizeof what, "%s L=%d", names[v], L);
      check(what, s, p);
      p.device_candidates = 3;  // every busy map overflows: exact selection rounds
      std::snprintf(what, sizeof what, "%s L=%d overflow", names[v], L);
      check(what, s, p);
    }
  }
  // The CPU backend from two host threads at once, each with its own scratch, and with its own thread pool
  // inside one image: results identical to a serial run.
  {
    const Scene s = make_scene(99u, 1, 5, 64, 64, 1, 6);
    DecodeParams p = params(Variant::HigherHRNet, s.K);
    DecodeScratch sc;
    DecodeOutput want;
    decode_image(p, s.heat.data(), s.tags.data(), s.K, s.H, s.W, s.L, sc, want);
    p.threads = 2;
    DecodeOutput got[2];
    std::thread t0([&] {
      DecodeScratch x;
      decode_image(p, s.heat.data(), s.tags.data(), s.K, s.H, s.W, s.L, x, got[0]);
    });
    std::thread t1([&] {
      DecodeScratch x;
      decode_image(p, s.heat.data(), s.tags.data(), s.K, s.H, s.W, s.L, x, got[1]);
    });
    t0.join();
    t1.join();
    const bool ok = same(want, got[0]) && same(want, got[1]);
    std::printf("%s cpu from two threads (%d people)\n", ok ? "ok  " : "FAIL", want.P);
    failures += ok ? 0 : 1;
  }
  // The emulated backend from two host threads at once (per-thread workspaces), each a batch of 2.
  {
    const Scene s = make_scene(7u, 2, 5, 24, 30, 2, 4);
    DecodeParams p = params(Variant::MMPose, s.K);
    p.threads = 2;  // host stages: images in parallel on the pool
    std::vector<DecodeOutput> want, got[2];
    int failed = -1;
    decode_batch_emu(p, s.heat.data(), s.tags.data(), s.N, s.K, s.H, s.W, s.L, want, &failed);
    std::thread t0([&] { int f; decode_batch_emu(p, s.heat.data(), s.tags.data(), s.N, s.K, s.H, s.W, s.L, got[0], &f); });
    std::thread t1([&] { int f; decode_batch_emu(p, s.heat.data(), s.tags.data(), s.N, s.K, s.H, s.W, s.L, got[1], &f); });
    t0.join();
    t1.join();
    bool ok = true;
    for (int k = 0; k < 2; ++k)
      for (int n = 0; n < s.N; ++n) ok = ok && same(want[size_t(n)], got[k][size_t(n)]);
    std::printf("%s emu from two threads\n", ok ? "ok  " : "FAIL");
    failures += ok ? 0 : 1;
  }
  // The thread pool: every index runs exactly once per call, back to back (workers polling) and after
  // pauses long enough for them to sleep, from two host threads at once (one of them runs inline), with n
  // below, at and above the thread count; an exception in any index reaches the caller and the pool works on.
  {
    std::atomic<int> bad{0};
    auto hammer = [&](unsigned seed) {
      std::mt19937 rng(seed);
      for (int call = 0; call < 3000; ++call) {
        const int n = 1 + int(rng() % 40);
        std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
        for (auto& h : hits) h.store(0);
        const int spin = int(rng() % 200);
        parallel_for(n, 2, [&](int i) {
          volatile int x = 0;
          for (int k = 0; k < spin; ++k) x = x + k;
          hits[size_t(i)].fetch_add(1);
        });
        for (auto& h : hits) bad += h.load() != 1;
        if (call % 500 == 499) std::this_thread::sleep_for(std::chrono::milliseconds(2));
        if (call % 300 == 7) {
          bool caught = false;
          try {
            parallel_for(8, 2, [&](int i) {
              if (i == 5) throw std::runtime_error("index 5");
            });
          } catch (const std::runtime_error&) {
            caught = true;
          }
          bad += !caught;
        }
      }
    };
    std::thread a([&] { hammer(1u); });
    std::thread b([&] { hammer(2u); });
    a.join();
    b.join();
    const bool ok = bad.load() == 0;
    std::printf("%s thread pool (%d wrong)\n", ok ? "ok  " : "FAIL", bad.load());
    failures += ok ? 0 : 1;
  }
  std::printf(failures ? "%d FAILED\n" : "all passed\n", failures);
  return failures ? 1 : 0;
}
