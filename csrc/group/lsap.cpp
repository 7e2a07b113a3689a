// Independent C++17 implementation of the shortest augmenting path method of
// D. F. Crouse, "On implementing 2D rectangular assignment algorithms", IEEE
// TAES 52(4), 2016, written to return exactly the same assignment as SciPy's
// implementation (scipy.optimize.linear_sum_assignment, scipy >= 1.4,
// rectangular_lsap by P. M. Larsen, BSD-3-Clause).
//
// Behaviours that decide which optimal assignment is returned, all
// reproduced here:
//  * a tall problem (R > C) is solved on the transpose, so every column gets
//    a row and the extra rows stay unassigned;
//  * rows are inserted one at a time in index order, each by one Dijkstra-like
//    search over the columns with reduced costs ((minVal + c) - u) - v, in
//    that evaluation order;
//  * the not-yet-reached columns are kept in a list that starts in DESCENDING
//    index order, and a reached column is removed by moving the list's last
//    entry into its slot, so the scan order drifts as the search proceeds;
//  * while scanning, the running minimum is replaced on a strictly smaller
//    value, or on an equal value when that column is still unassigned (ends
//    the search); so among equal free columns the last scanned wins, and a
//    free column beats an assigned one of equal cost;
//  * a column's tentative distance and predecessor change only on strict
//    improvement;
//  * duals: u[start] += d; u[i] += d - dist[col(i)] for the other reached rows;
//    v[j] -= d - dist[j] for reached columns.
// The cost matrix is used as given (no shift by its minimum).

#include "group/lsap.h"
#include "common/checked.h"

#include <cmath>
#include <cstdint>
#include <limits>

// Exact ties are the point of this file: value-changing float optimisations
// (reassociation, x + m - m -> x) would silently change the assignments.
#if defined(__FAST_MATH__)
#error "lsap.cpp must be compiled without -ffast-math / -Ofast"
#endif

namespace hrd {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// Workspace for a problem solved as nr x nc (nr <= nc), all doubles first:
//   transposed cost (only when the input is tall) nr*nc | u nr | v nc |
//   dist nc | ints: path nc, col4row nr, row4col nc, remaining nc |
//   bytes: row_seen nr, col_seen nc.
struct Layout {
  std::size_t tcost_off, u_off, v_off, dist_off;
  std::size_t path_off, col4row_off, row4col_off, remaining_off;
  std::size_t rowseen_off, colseen_off, total;
};

bool layout_for(std::size_t nr, std::size_t nc, bool transposed, Layout* L) {
  std::size_t off = 0, bytes = 0;
  auto take = [&](std::size_t count, std::size_t elem, std::size_t* at) {
    if (!checked_mul(count, elem, &bytes)) return false;
    *at = off;
    return checked_add(off, bytes, &off);
  };
  std::size_t tcells = 0;
  if (transposed && !checked_mul(nr, nc, &tcells)) return false;
  if (!take(tcells, sizeof(double), &L->tcost_off)) return false;
  if (!take(nr, sizeof(double), &L->u_off)) return false;
  if (!take(nc, sizeof(double), &L->v_off)) return false;
  if (!take(nc, sizeof(double), &L->dist_off)) return false;
  if (!take(nc, sizeof(int), &L->path_off)) return false;
  if (!take(nr, sizeof(int), &L->col4row_off)) return false;
  if (!take(nc, sizeof(int), &L->row4col_off)) return false;
  if (!take(nc, sizeof(int), &L->remaining_off)) return false;
  if (!take(nr, 1, &L->rowseen_off)) return false;
  if (!take(nc, 1, &L->colseen_off)) return false;
  L->total = off;
  return true;
}

struct State {
  int nr, nc;               // solved shape, nr <= nc
  const double* cost;       // nr x nc, row-major
  double* u;                // nr: row duals
  double* v;                // nc: column duals
  double* dist;             // nc: shortest path cost to each column
  int* path;                // nc: predecessor row of each column
  int* col4row;             // nr
  int* row4col;             // nc
  int* remaining;           // nc: columns not yet reached by the search
  unsigned char* row_seen;  // nr
  unsigned char* col_seen;  // nc
};

// One shortest augmenting path search from row `start`. Returns the free
// column that ends the path (and its cost in *d), or -1 if every remaining
// column is at infinite distance.
int shortest_path(State& s, int start, double* d) {
  const int nc = s.nc;
  // Descending start order: for a constant matrix this yields the identity.
  for (int k = 0; k < nc; ++k) s.remaining[k] = nc - 1 - k;
  for (int i = 0; i < s.nr; ++i) s.row_seen[i] = 0;
  for (int j = 0; j < nc; ++j) {
    s.col_seen[j] = 0;
    s.dist[j] = kInf;
  }

  int left = nc;
  int i = start;
  double reach = 0.0;  // distance of the column through which row i was reached
  for (;;) {
    s.row_seen[i] = 1;
    const double* crow = s.cost + static_cast<std::size_t>(i) * nc;
    int best = -1;
    double lowest = kInf;
    for (int k = 0; k < left; ++k) {
      const int j = s.remaining[k];
      const double r = reach + crow[j] - s.u[i] - s.v[j];
      if (r < s.dist[j]) {
        s.path[j] = i;
        s.dist[j] = r;
      }
      // Ties go to a free column so the search ends as early as possible.
      // Replacing on equality makes the LAST equal free column in scan order win.
      if (s.dist[j] < lowest || (s.dist[j] == lowest && s.row4col[j] == -1)) {
        lowest = s.dist[j];
        best = k;
      }
    }
    reach = lowest;
    if (reach == kInf) return -1;  // also covers best == -1 (nothing left)
    const int j = s.remaining[best];
    s.col_seen[j] = 1;
    s.remaining[best] = s.remaining[--left];  // swap-remove: changes scan order
    if (s.row4col[j] == -1) {
      *d = reach;
      return j;
    }
    i = s.row4col[j];
  }
}

// Solve an nr x nc (nr <= nc) problem into s.col4row.
int solve(State& s) {
  for (int i = 0; i < s.nr; ++i) {
    s.u[i] = 0.0;
    s.col4row[i] = -1;
  }
  for (int j = 0; j < s.nc; ++j) {
    s.v[j] = 0.0;
    s.path[j] = -1;
    s.row4col[j] = -1;
  }
  for (int cur = 0; cur < s.nr; ++cur) {
    double d = 0.0;
    const int sink = shortest_path(s, cur, &d);
    if (sink < 0) return kLsapInfeasible;

    s.u[cur] += d;
    for (int i = 0; i < s.nr; ++i)
      if (s.row_seen[i] && i != cur) s.u[i] += d - s.dist[s.col4row[i]];
    for (int j = 0; j < s.nc; ++j)
      if (s.col_seen[j]) s.v[j] -= d - s.dist[j];

    // Flip the path back to `cur`. It has at most nr edges; the bound only
    // guards against a corrupted state.
    int j = sink;
    for (int hops = 0;; ++hops) {
      if (hops > s.nr) return kLsapIterCap;
      const int i = s.path[j];
      s.row4col[j] = i;
      const int prev = s.col4row[i];
      s.col4row[i] = j;
      j = prev;
      if (i == cur) break;
    }
  }
  return kLsapOk;
}

}  // namespace

std::size_t lsap_workspace_bytes(int R, int C) {
  if (R <= 0 || C <= 0) return 0;  // nothing to solve, no scratch used
  const bool tall = C < R;
  const std::size_t nr = static_cast<std::size_t>(tall ? C : R);
  const std::size_t nc = static_cast<std::size_t>(tall ? R : C);
  Layout L;
  if (!layout_for(nr, nc, tall, &L)) return SIZE_MAX;
  return L.total;
}

int lsap(const double* cost, int R, int C, int* row_to_col, void* workspace) {
  if (R < 0 || C < 0) return kLsapBadArgs;
  if (R > 0 && row_to_col == nullptr) return kLsapBadArgs;
  for (int r = 0; r < R; ++r) row_to_col[r] = -1;
  if (R == 0 || C == 0) return kLsapOk;
  if (cost == nullptr || workspace == nullptr) return kLsapBadArgs;
  if (reinterpret_cast<std::uintptr_t>(workspace) % alignof(double) != 0) return kLsapBadArgs;

  const std::size_t RC = static_cast<std::size_t>(R) * static_cast<std::size_t>(C);
  for (std::size_t k = 0; k < RC; ++k)
    if (std::isnan(cost[k]) || cost[k] == -kInf) return kLsapInvalid;

  const bool tall = C < R;
  Layout L;
  if (!layout_for(static_cast<std::size_t>(tall ? C : R), static_cast<std::size_t>(tall ? R : C),
                  tall, &L))
    return kLsapBadArgs;
  unsigned char* base = static_cast<unsigned char*>(workspace);

  State s;
  s.nr = tall ? C : R;
  s.nc = tall ? R : C;
  if (tall) {
    double* t = reinterpret_cast<double*>(base + L.tcost_off);  // CxR
    for (int r = 0; r < R; ++r)
      for (int c = 0; c < C; ++c)
        t[static_cast<std::size_t>(c) * R + r] = cost[static_cast<std::size_t>(r) * C + c];
    s.cost = t;
  } else {
    s.cost = cost;
  }
  s.u = reinterpret_cast<double*>(base + L.u_off);
  s.v = reinterpret_cast<double*>(base + L.v_off);
  s.dist = reinterpret_cast<double*>(base + L.dist_off);
  s.path = reinterpret_cast<int*>(base + L.path_off);
  s.col4row = reinterpret_cast<int*>(base + L.col4row_off);
  s.row4col = reinterpret_cast<int*>(base + L.row4col_off);
  s.remaining = reinterpret_cast<int*>(base + L.remaining_off);
  s.row_seen = base + L.rowseen_off;
  s.col_seen = base + L.colseen_off;

  const int status = solve(s);
  if (status != kLsapOk) return status;

  if (tall) {
    // Solved rows are original columns; col4row holds original rows.
    for (int c = 0; c < C; ++c) row_to_col[s.col4row[c]] = c;
  } else {
    for (int r = 0; r < R; ++r) row_to_col[r] = s.col4row[r];
  }
  return kLsapOk;
}

}  // namespace hrd
