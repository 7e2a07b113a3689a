#include "decode/decode.h"

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>

#include "common/buffers.h"
#include "common/numeric.h"
#include "common/thread_pool.h"
#include "dark/udp_cpu.h"
#include "nms/nms.h"
#include "refine/refine.h"
#include "refine/refine_rule.h"

namespace hrd {
namespace {

constexpr int kMaxJointsOnStack = 64;

using Clock = std::chrono::steady_clock;
inline double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

}  // namespace

int decode_image(const DecodeParams& prm, const float* heat, const float* tags, int K, int H, int W, int L,
                 DecodeScratch& s, DecodeOutput& out) {
  const auto t_start = Clock::now();
  const int M = prm.max_people;
  const int64_t HW = int64_t(H) * W;
  const bool omz = prm.variant == Variant::OMZ;
  StageTimes tm;

  // ---- 1. candidates: NMS + threshold + top-M per joint, and their tags ---------------------------------
  auto t0 = Clock::now();
  ensure(s.peaks, size_t(K) * M);
  ensure(s.counts, size_t(K));
  ensure(s.ctags, size_t(K) * M * L);
  ensure(s.shifts, size_t(K) * M * 2);
  const int radius = (prm.nms_kernel - 1) / 2;
  const DarkSpec dark = make_dark_spec(prm);
  const DarkSpec no_dark{};  // CPU: candidates get the adjust shift; DARK is applied to the joints used only
  // The tile summaries of the refine search (with 4x4 tiles the NMS pass fills their heat part) are
  // completed in the refine stage, joint by joint right before the joint's searches, and only for joints
  // that somebody misses.
  const TileGrid grid = make_tile_grid(H, W, prm.tile);
  const size_t per_joint = tile_summary_words(grid, L);
  if (prm.refine) ensure(s.summaries, size_t(K) * per_joint);
  ensure(s.tiles_ns, size_t(K));
  ensure(s.summarised, size_t(K));
  for (int k = 0; k < K; ++k) s.summarised[k] = 0;
  std::atomic<bool> seen{false};
  const float* search_maps = heat;  // what the refine searches (DARK-UDP: the log maps, set below)
  auto summarise = [&](int k) {
    const auto tt = Clock::now();
    const TileSummary sum = tile_summary_at(&s.summaries[size_t(k) * per_joint], grid, L);
    // With use_udp the summaries come from the log maps, whose tile heat the NMS pass does not fill.
    tile_summaries_hw(search_maps + k * HW, H, W, L, grid, prm.heat_abs, sum,
                      grid.T == 4 && !prm.use_udp);
    s.tiles_ns[k] = std::chrono::duration<double, std::nano>(Clock::now() - tt).count();
  };
  auto find_candidates = [&](int k) {  // joints are independent; each writes its own slots
    Peak* pk = s.peaks.data() + size_t(k) * M;
    // With 4x4 refine tiles, the NMS pass also fills the tiles' heat (the rest of the summary follows).
    float* hm = nullptr;
    if (prm.refine && grid.T == 4 && !prm.use_udp)
      hm = tile_summary_at(&s.summaries[size_t(k) * per_joint], grid, L).hmax;
    const int n = topk_candidates_hw(heat + k * HW, H, W, radius, prm.detection_threshold, M, pk, hm, prm.heat_abs);
    s.counts[k] = n;
    for (int m = 0; m < n; ++m) {
      std::memcpy(&s.ctags[(size_t(k) * M + m) * L], tags + (k * HW + pk[m].idx) * L, sizeof(float) * L);
      float* sh = &s.shifts[(size_t(k) * M + m) * 2];
      joint_shift(prm.variant, heat + k * HW, H, W, pk[m].idx % W, pk[m].idx / W, prm.heat_abs, prm.adjust,
                  no_dark, sh, sh + 1);
    }
    if (n > 0) seen.store(true, std::memory_order_relaxed);
    s.tiles_ns[k] = 0;
  };
  int st = 0;
  if (!prm.dark && !prm.use_udp) {
    // ---- 1-3 overlapped: candidates, grouping and scores (group_and_score) ------------------------------
    // One parallel_for: task 0 groups, tasks 1..K find the candidates of the joints in joint order. The
    // grouping takes the joints in that order and waits for each one's candidates; while it waits it finds
    // the next unclaimed joint's candidates itself, so nothing depends on a task that has not started: with
    // one thread (or the pool busy) the tasks simply run in index order. Same results as the stages one
    // after the other.
    if (s.joint_state_n < K) {
      s.joint_state.reset(new std::atomic<int>[size_t(K)]);
      s.joint_state_n = K;
    }
    ensure(s.cand_end_ns, size_t(K));
    std::atomic<int>* state = s.joint_state.get();  // 0 to find, 1 being found, 2 found
    for (int k = 0; k < K; ++k) state[k].store(0, std::memory_order_relaxed);
    std::atomic<int> next_unclaimed{0};  // position in joint_order below which every joint is claimed
    auto claim_run = [&](int k) {
      int expect = 0;
      if (!state[k].compare_exchange_strong(expect, 1, std::memory_order_acq_rel)) return false;
      find_candidates(k);
      s.cand_end_ns[k] = std::chrono::duration<double, std::nano>(Clock::now() - t0).count();
      state[k].store(2, std::memory_order_release);
      return true;
    };
    auto wait_joint = [&](int k) {
      claim_run(k);
      while (state[k].load(std::memory_order_acquire) != 2) {
        bool helped = false;
        for (int i = next_unclaimed.load(std::memory_order_relaxed); i < K && !helped; ++i) {
          helped = claim_run(prm.joint_order[i]);
          if (!helped && state[prm.joint_order[i]].load(std::memory_order_relaxed) != 0)
            next_unclaimed.store(i + 1, std::memory_order_relaxed);  // claimed by now: never look again
        }
        if (!helped) cpu_relax();
      }
    };
    using Wait = decltype(wait_joint);
    auto ready = [](void* ctx, int k) { (*static_cast<Wait*>(ctx))(k); };
    // With more than one thread and 4x4 refine tiles, K more tasks: the joints' tile summaries, from the
    // tile heat the NMS pass wrote (no map is read), built by the threads that would otherwise wait for
    // the grouping. Every candidate task comes first, so a summary task only waits for a joint in progress.
    // A joint nobody misses gets one too (about 20 us, on a thread that would idle).
    const bool early = prm.refine && grid.T == 4 && prm.threads > 1;
    parallel_for(early ? 2 * K + 1 : K + 1, prm.threads, [&](int i) {
      if (i == 0) {
        st = group_and_score(prm, K, H, W, L, nullptr, s, tm, ready, &wait_joint);
      } else if (i <= K) {
        claim_run(prm.joint_order[i - 1]);
      } else {
        const int k = prm.joint_order[i - K - 1];
        while (state[k].load(std::memory_order_acquire) != 2) cpu_relax();
        summarise(k);
        s.summarised[k] = 1;
      }
    });
    double end = 0.0;
    for (int k = 0; k < K; ++k) end = s.cand_end_ns[k] > end ? s.cand_end_ns[k] : end;
    tm.candidates_ms = end * 1e-6;  // until the last joint's candidates were found
  } else {
    // ---- 1. candidates ------------------------------------------------------------------------------------
    parallel_for(K, prm.threads, find_candidates);
    // DARK-UDP: the log maps the shifts and the fill search read (the refine summaries are built on them).
    if (prm.use_udp && seen.load()) {
      ensure(s.udp_log, size_t(K) * HW);
      parallel_for(K, prm.threads, [&](int k) {
        thread_local std::vector<float> rows, pad;
        udp_log_map_cpu(heat + k * HW, H, W, dark, rows, pad, s.udp_log.data() + k * HW);
      });
      search_maps = s.udp_log.data();
    }
    tm.candidates_ms = ms_since(t0);
    // ---- 2-3. grouping and scores (group_and_score uses the pool itself for DARK) -------------------------
    st = group_and_score(prm, K, H, W, L, prm.use_udp ? search_maps : heat, s, tm);
  }
  if (st != 0) return st;
  const Groups& g = s.groups;
  const int NP = s.NP;

  // ---- 4. refine: fill missing joints ----------------------------------------------------------------
  t0 = Clock::now();
  if (prm.refine && NP > 0) {
    // First every kept person's tag (from its detected joints, before any refine hit is written), then,
    // joint by joint in parallel, the joint's tile summaries and its searches: they read one joint's maps,
    // which stay in the core's cache (person by person, every search would go to another joint's maps, and
    // summaries built earlier would have left the cache). Each search writes only its own (person, joint)
    // entry, so the order does not change the results.
    ensure(s.ptags, size_t(NP) * L);
    ensure(s.has_ptag, size_t(NP));
    ensure(s.searches, size_t(K));
    ensure(s.pixels, size_t(K));
    for (int j = 0; j < NP; ++j) {
      const int p = s.keep[j];
      float* pt = &s.ptags[size_t(j) * L];
      s.has_ptag[j] = 1;
      if (omz) {
        std::memcpy(pt, &g.tag_mean[size_t(omz_tag_row(prm, s, j)) * L], sizeof(float) * L);
        continue;
      }
      int64_t pix[kMaxJointsOnStack];
      std::vector<int64_t> pix_heap;
      int64_t* pp = pix;
      if (K > kMaxJointsOnStack) {
        pix_heap.resize(size_t(K));
        pp = pix_heap.data();
      }
      const int n = person_tag_pixels(&s.kp[size_t(p) * K * 3], K, H, W, pp);
      s.has_ptag[j] = n > 0;
      if (n == 0) continue;
      ensure(s.tag_rows, size_t(K) * L);
      for (int i = 0; i < n; ++i) std::memcpy(&s.tag_rows[size_t(i) * L], tags + pp[i] * L, sizeof(float) * L);
      numpy_mean_rows_f32(s.tag_rows.data(), n, L, pt);
    }
    parallel_for(K, prm.threads, [&](int k) {
      s.searches[k] = 0;
      s.pixels[k] = 0;
      int missing = 0;
      for (int j = 0; j < NP && !missing; ++j) missing = s.has_ptag[j] && g.cand[size_t(s.keep[j]) * K + k] < 0;
      if (!missing) return;
      if (!s.summarised[k]) summarise(k);
      const float* hk = search_maps + k * HW;
      const float* tk = tags + k * HW * L;
      const TileSummary sum = tile_summary_at(&s.summaries[size_t(k) * per_joint], grid, L);
      for (int j = 0; j < NP; ++j) {
        const int p = s.keep[j];
        if (!s.has_ptag[j] || g.cand[size_t(p) * K + k] >= 0) continue;  // only missing joints are searched
        const RefineHit hit =
            refine_search_hw(prm.variant, hk, tk, H, W, L, &s.ptags[size_t(j) * L], prm.heat_abs, grid, sum);
        ++s.searches[k];
        s.pixels[k] += hit.pixels;
        if (hit.idx < 0) continue;
        const int x = hit.idx % W, y = hit.idx / W;
        float sx, sy;
        refine_hit_shift(prm.variant, hk, H, W, x, y, dark, &sx, &sy);
        apply_refine_hit(prm.variant, prm.delta, &s.kp[size_t(p) * K * 3], k, x, y, hit.heat, sx, sy);
      }
    });
    for (int k = 0; k < K; ++k) {
      tm.refine_searches += s.searches[k];
      tm.refine_pixels += s.pixels[k];
    }
  }
  tm.refine_ms = ms_since(t0);
  for (int k = 0; k < K; ++k) tm.refine_tiles_ms += s.tiles_ns[k] * 1e-6;

  write_output(prm, K, s, out);
  tm.total_ms = ms_since(t_start);
  out.times = tm;
  return 0;
}

DarkSpec make_dark_spec(const DecodeParams& prm) {
  DarkSpec d;
  for (double& v : d.k) v = 0.0;
  for (float& v : d.kf) v = 0.0f;
  if ((prm.dark || prm.use_udp) && prm.blur_kernel >= 1 && prm.blur_kernel <= kMaxBlurTaps &&
      prm.blur_kernel % 2 == 1) {
    d.mode = prm.use_udp ? Subpixel::Udp : Subpixel::Dark;
    d.taps = prm.blur_kernel;
    gaussian_kernel_cv(d.taps, d.k);
    for (int i = 0; i < d.taps; ++i) d.kf[i] = float(d.k[i]);
  }
  return d;
}

int group_and_score(const DecodeParams& prm, int K, int H, int W, int L, const float* dark_heat, DecodeScratch& s,
                    StageTimes& tm, void (*ready)(void*, int), void* ready_ctx) {
  const int M = prm.max_people;
  const bool omz = prm.variant == Variant::OMZ;
  // ---- 2. grouping ---------------------------------------------------------------------------------------
  auto t0 = Clock::now();
  GroupParams gp{prm.variant, prm.solver, K, M, L, prm.joint_order.data(), prm.tag_threshold,
                 prm.use_detection_val, prm.ignore_too_much, prm.dist_reweight, prm.max_people, ready, ready_ctx};
  Candidates cands{s.peaks.data(), s.counts.data(), s.ctags.data(), W};
  Groups& g = s.groups;
  const int st = group_greedy(gp, cands, g);
  if (st != 0) return st;
  int P = g.P;
  if (prm.variant == Variant::MMPose && P > prm.max_people) P = prm.max_people;  // decode_max_instances
  tm.group_ms = ms_since(t0);

  // ---- 3. person scores, adjust (or DARK) --------------------------------------------------------------
  t0 = Clock::now();
  ensure(s.kp, size_t(P) * K * 3);
  ensure(s.score, size_t(P));
  for (int p = 0; p < P; ++p) {
    float* kp = &s.kp[size_t(p) * K * 3];
    for (int k = 0; k < K; ++k) {
      const int m = g.cand[size_t(p) * K + k];
      kp[3 * k + 2] = m >= 0 ? s.peaks[size_t(k) * M + m].val : 0.0f;
    }
    s.score[p] = pairwise_sum<float>(kp + 2, K, 3) / float(K);
  }
  // People kept. OMZ drops low-score people before refine; the others filter at the end.
  ensure(s.keep, size_t(P));
  int NP = 0;
  for (int p = 0; p < P; ++p)
    if (!(omz && prm.has_pose_threshold) || s.score[p] > prm.pose_threshold) s.keep[NP++] = p;
  s.NP = NP;
  // Coordinates of the kept people (the others are never read). dark_heat (KxHxW, the CPU backend): the
  // DARK shift is computed here for the joints used only (from the heat maps; DARK-UDP: from the log maps);
  // other backends computed it for every candidate.
  const DarkSpec dark = dark_heat != nullptr ? make_dark_spec(prm) : DarkSpec{};
  const int64_t HW = int64_t(H) * W;
  const float delta = prm.delta;
  auto coords = [&](int j) {
    const int p = s.keep[j];
    float* kp = &s.kp[size_t(p) * K * 3];
    for (int k = 0; k < K; ++k) {
      const int m = g.cand[size_t(p) * K + k];
      float X = 0.0f, Y = 0.0f;
      if (m >= 0) {
        const Peak pk = s.peaks[size_t(k) * M + m];
        const int x = pk.idx % W, y = pk.idx / W;
        float sx = s.shifts[(size_t(k) * M + m) * 2];  // joint_shift: zero without adjust and dark
        float sy = s.shifts[(size_t(k) * M + m) * 2 + 1];
        if (dark.mode != Subpixel::None)  // the candidates' shifts were computed without DARK
          joint_shift(prm.variant, dark_heat + k * HW, H, W, x, y, prm.heat_abs, prm.adjust, dark, &sx, &sy);
        X = float(x) + sx;
        Y = float(y) + sy;
        // HigherHRNet's +0.5 is part of its adjust step (and of the DARK step replacing it); mmpose adds
        // its centre shift to detected joints.
        if (prm.variant != Variant::HigherHRNet || prm.adjust || prm.dark) {
          X += delta;
          Y += delta;
        }
      } else if (omz) {
        X = delta;  // model_api adds delta to every joint, missing ones included
        Y = delta;
      }
      kp[3 * k] = X;
      kp[3 * k + 1] = Y;
    }
  };
  if (dark.mode == Subpixel::Dark)
    parallel_for(NP, prm.threads, coords);
  else
    for (int j = 0; j < NP; ++j) coords(j);
  tm.adjust_ms = ms_since(t0);
  return 0;
}


void write_output(const DecodeParams& prm, int K, const DecodeScratch& s, DecodeOutput& out) {
  const bool omz = prm.variant == Variant::OMZ;
  int NO = 0;
  out.keypoints.resize(size_t(s.NP) * K * 3);
  out.scores.resize(size_t(s.NP));
  for (int j = 0; j < s.NP; ++j) {
    const int p = s.keep[j];
    if (!omz && prm.has_pose_threshold && !(s.score[p] > prm.pose_threshold)) continue;
    std::memcpy(&out.keypoints[size_t(NO) * K * 3], &s.kp[size_t(p) * K * 3], sizeof(float) * K * 3);
    out.scores[NO] = s.score[p];
    ++NO;
  }
  out.P = NO;
  out.keypoints.resize(size_t(NO) * K * 3);
  out.scores.resize(size_t(NO));
}

}  // namespace hrd
