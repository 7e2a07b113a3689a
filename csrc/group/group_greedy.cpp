#include <algorithm>
#include "group/group_greedy.h"

#include <cmath>
#include <cstring>

#include "common/buffers.h"
#include "common/numeric.h"
#include "group/lsap.h"
#include "group/munkres.h"

namespace hrd {
namespace {

constexpr double kPadCost = 1e10;  // the references pad the cost matrix with 1e10 (exactly representable)

inline const float* cand_tag(const Candidates& c, int M, int L, int k, int m) {
  return c.tags + (static_cast<size_t>(k) * M + m) * L;
}

// Start a new person holding candidate m of joint k.
void new_person(const GroupParams& prm, Groups& g) {
  const int K = prm.K, L = prm.L, p = g.P++;
  ensure(g.cand, size_t(g.P) * K);
  ensure(g.tag_order, size_t(g.P) * K);
  ensure(g.n_added, g.P);
  ensure(g.tag_mean, size_t(g.P) * L);
  ensure(g.mean_dirty, g.P);
  ensure(g.center, size_t(g.P) * 2);
  for (int j = 0; j < K; ++j) g.cand[size_t(p) * K + j] = -1;
  g.n_added[p] = 0;
  std::memset(&g.tag_mean[size_t(p) * L], 0, sizeof(float) * L);
  g.center[2 * p] = 0.0;
  g.center[2 * p + 1] = 0.0;
}

// Add candidate m of joint k to person p, updating the person's tag state the way its reference does.
void add_joint(const GroupParams& prm, const Candidates& c, Groups& g, int p, int k, int m) {
  const int K = prm.K, L = prm.L, M = prm.M;
  g.cand[size_t(p) * K + k] = m;
  const float* t = cand_tag(c, M, L, k, m);
  const int n = g.n_added[p];
  const int idx = c.peaks[size_t(k) * M + m].idx;
  const double x = double(idx % c.W), y = double(idx / c.W);
  // model_api Pose.add: c = (c * n + xy) / (n + 1) in float64; tag = (tag * n + t) / (n + 1) in float32.
  double* ctr = &g.center[2 * size_t(p)];
  ctr[0] = (ctr[0] * n + x) / double(n + 1);
  ctr[1] = (ctr[1] * n + y) / double(n + 1);
  float* tm = &g.tag_mean[size_t(p) * L];
  if (prm.variant == Variant::OMZ) {
    for (int l = 0; l < L; ++l) tm[l] = (tm[l] * float(n) + t[l]) / float(n + 1);
  } else {
    g.mean_dirty[p] = 1;  // the list mean is recomputed from the list, in numpy's order, when needed
  }
  g.tag_order[size_t(p) * K + n] = k;
  g.n_added[p] = n + 1;
}

// HH/mmpose person tag: np.mean(list of the person's tags in insertion order, axis=0) in float32.
const float* person_tag(const GroupParams& prm, const Candidates& c, Groups& g, int p) {
  const int K = prm.K, L = prm.L, M = prm.M;
  float* tm = &g.tag_mean[size_t(p) * L];
  if (prm.variant == Variant::OMZ || !g.mean_dirty[p]) return tm;
  const int n = g.n_added[p];
  float* rows = g.tmp.data();
  for (int i = 0; i < n; ++i) {
    const int k = g.tag_order[size_t(p) * K + i];
    std::memcpy(rows + size_t(i) * L, cand_tag(c, M, L, k, g.cand[size_t(p) * K + k]), sizeof(float) * L);
  }
  numpy_mean_rows_f32(rows, n, L, tm);
  g.mean_dirty[p] = 0;
  return tm;
}

// ||t - q|| as the reference computes it. HH/mmpose: float64 (float32 inputs promoted), pairwise over L.
// OMZ: float32 throughout.
double tag_distance(Variant v, const float* t, const float* q, int L) {
  if (v == Variant::OMZ) return double(sqrtf(pairwise_sum_sq<float>(t, q, L)));
  return std::sqrt(pairwise_sum_sq<double>(t, q, L));
}

}  // namespace

int group_greedy(const GroupParams& prm, const Candidates& c, Groups& g) {
  const int K = prm.K, M = prm.M, L = prm.L;
  const bool omz = prm.variant == Variant::OMZ;
  g.P = 0;
  ensure(g.tmp, size_t(K) * L);
  const float tag_thr_f = static_cast<float>(prm.tag_threshold);

  for (int i = 0; i < K; ++i) {
    const int k = prm.joint_order[i];
    if (prm.ready) prm.ready(prm.ready_ctx, k);
    const int R = c.count[k];
    if (R == 0) continue;
    if (g.P == 0) {
      for (int m = 0; m < R; ++m) {
        new_person(prm, g);
        add_joint(prm, c, g, g.P - 1, k, m);
      }
      continue;
    }
    // Which people are match candidates, and whether this joint type is skipped.
    int G = g.P;
    if (prm.variant == Variant::HigherHRNet && G > prm.max_people) G = prm.max_people;
    if (prm.ignore_too_much) {
      if (omz ? g.P == prm.max_people : G >= prm.max_people) continue;
    }
    const int C = R > G ? R : G;
    ensure(g.dist, size_t(R) * G);
    ensure(g.cost, size_t(R) * C);
    ensure(g.assign, R);
    const Peak* peaks = c.peaks + size_t(k) * M;

    for (int gi = 0; gi < G; ++gi) {
      const float* q = person_tag(prm, c, g, gi);
      for (int r = 0; r < R; ++r) g.dist[size_t(r) * G + gi] = tag_distance(prm.variant, cand_tag(c, M, L, k, r), q, L);
    }
    // cost starts as the distances (float32 values for OMZ, float64 otherwise)
    for (int r = 0; r < R; ++r)
      for (int gi = 0; gi < G; ++gi) g.cost[size_t(r) * C + gi] = g.dist[size_t(r) * G + gi];

    if (prm.dist_reweight) {
      // Prefer nearby people among those close enough in tag space: for pairs whose tag distance is under
      // the threshold, multiply it by (distance to the person's centre) / (smallest such distance over this
      // joint's candidates + 1e-10).
      ensure(g.cdist, size_t(R) * G);
      for (int r = 0; r < R; ++r) {
        const double x = double(peaks[r].idx % c.W), y = double(peaks[r].idx / c.W);
        for (int gi = 0; gi < G; ++gi) {
          const double dx = x - g.center[2 * size_t(gi)], dy = y - g.center[2 * size_t(gi) + 1];
          g.cdist[size_t(r) * G + gi] = std::sqrt(dx * dx + dy * dy);
        }
      }
      for (int gi = 0; gi < G; ++gi) {
        double mn = g.cdist[gi];
        for (int r = 1; r < R; ++r) mn = g.cdist[size_t(r) * G + gi] < mn ? g.cdist[size_t(r) * G + gi] : mn;
        const double denom = mn + 1e-10;
        for (int r = 0; r < R; ++r) {
          double& cv = g.cost[size_t(r) * C + gi];
          const double f = g.cdist[size_t(r) * G + gi] / denom;
          if (omz) {
            if (float(cv) < tag_thr_f) cv = double(float(cv * f));
          } else if (cv < prm.tag_threshold) {
            cv = cv * f;
          }
        }
      }
    }
    for (int r = 0; r < R; ++r) {
      double* row = &g.cost[size_t(r) * C];
      if (prm.use_detection_val) {
        const double val = double(peaks[r].val);
        for (int gi = 0; gi < G; ++gi)
          row[gi] = omz ? double(round_half_even(float(row[gi])) * 100.0f) - val : round_half_even(row[gi]) * 100.0 - val;
      }
      // Costs the references cannot produce from finite maps (NaN/inf tags) are made unattractive, so the
      // solvers always see finite input and such rows start new people.
      for (int gi = 0; gi < G; ++gi)
        if (!is_finite(row[gi])) row[gi] = kPadCost;
      for (int gi = G; gi < C; ++gi) row[gi] = kPadCost;
    }

    const size_t ws = std::max(munkres114_workspace_bytes(R, C), lsap_workspace_bytes(R, C));
    const size_t wsn = (ws + sizeof(std::max_align_t) - 1) / sizeof(std::max_align_t);
    if (g.solver_ws.size() < wsn) g.solver_ws.resize(wsn);
    int st = prm.solver == Solver::Munkres114
                 ? munkres114(g.cost.data(), R, C, g.assign.data(), g.solver_ws.data())
                 : lsap(g.cost.data(), R, C, g.assign.data(), g.solver_ws.data());
    // munkres 1.1.4 cannot solve matrices whose values reach 2^63 (heat values near 1e19 and above: its
    // step 6 then never produces a zero and the Python package loops forever). Such a step takes the
    // exact LSAP solution instead, so a decode always finishes (README: guarantees).
    if (st == kMunkresIterCap || st == kMunkresUnsolvable)
      st = lsap(g.cost.data(), R, C, g.assign.data(), g.solver_ws.data());
    if (st != 0) return st;

    for (int r = 0; r < R; ++r) {
      const int col = g.assign[r];
      bool join = col >= 0 && col < G;
      if (join) {
        const double d = g.dist[size_t(r) * G + col];
        join = omz ? float(d) < tag_thr_f : d < prm.tag_threshold;
      }
      if (join) {
        add_joint(prm, c, g, col, k, r);
      } else {
        new_person(prm, g);
        add_joint(prm, c, g, g.P - 1, k, r);
      }
    }
  }
  return 0;
}

}  // namespace hrd
