// Independent C++17 implementation of the assignment algorithm of the PyPI
// package munkres 1.1.4 (Brian M. Clapper, Apache-2.0,
// https://software.clapper.org/munkres/), written to return exactly the same
// assignment as `Munkres().compute(matrix)` for float (double) matrices.
//
// Which optimal assignment munkres 1.1.4 returns is decided by details that a
// textbook Hungarian method leaves open. All of them are reproduced here:
//  * the matrix is padded to n = max(R, C) with zeros (extra columns when
//    R > C, extra rows when R < C), and the padding takes part in every step,
//    including the row minimum of step 1;
//  * only rows are reduced (no column reduction);
//  * the initial stars are chosen greedily in row-major order;
//  * the uncovered-zero search of step 4 restarts at (0, 0) each time step 4
//    is entered, and otherwise resumes at (row of the last prime, column of
//    the star in that row); rows are visited cyclically from there, every row
//    is scanned cyclically starting at that same column, and the LAST
//    uncovered zero of the first row that has one wins;
//  * step 6 takes the first minimum in row-major order, starting from
//    sys.maxsize (2^63 once it meets a double), and then, element by element
//    in row-major order, first adds it to covered rows and then subtracts it
//    from uncovered columns as two separately rounded double operations;
//  * zeros are found by exact comparison with 0.0.
// The same double operations in the same order make the working matrix
// bit-identical to the Python one, so the same zeros appear in the same
// places.
//
// Known divergence: munkres keeps the zero padding as Python ints, so when an
// uncovered value ever reaches 2^63 or more (costs around 1e19 and up) Python
// mixes exact integer arithmetic with float arithmetic; doubles are used
// throughout here.

#include "group/munkres.h"
#include "common/checked.h"

#include <cmath>
#include <cstdint>

// Exact ties are the point of this file: value-changing float optimisations
// (reassociation, x + m - m -> x) would silently change the assignments.
#if defined(__FAST_MATH__)
#error "munkres.cpp must be compiled without -ffast-math / -Ofast"
#endif

namespace hrd {
namespace {

// Marks in the n x n mark matrix.
constexpr unsigned char kNone = 0;
constexpr unsigned char kStar = 1;
constexpr unsigned char kPrime = 2;

// munkres seeds its minimum search with the Python int sys.maxsize
// (2^63 - 1). For a double x, `x < 2^63 - 1` holds exactly when `x < 2^63`,
// and adding the int to a double rounds it to 2^63, so 2^63 is equivalent.
constexpr double kMinSeed = 9223372036854775808.0;  // 2^63

struct Layout {
  std::size_t cells_off, path_off, mark_off, rowcov_off, colcov_off, total;
};

// Workspace for order n: cells n*n doubles | path 2n (row, col) int pairs |
// marks n*n bytes | row covers n bytes | col covers n bytes.
bool layout_for(std::size_t n, Layout* L) {
  std::size_t nn, cells_bytes, path_bytes, t;
  if (!checked_mul(n, n, &nn)) return false;
  if (!checked_mul(nn, sizeof(double), &cells_bytes)) return false;
  if (!checked_mul(n, 4 * sizeof(int), &path_bytes)) return false;
  L->cells_off = 0;
  L->path_off = cells_bytes;
  if (!checked_add(L->path_off, path_bytes, &L->mark_off)) return false;
  if (!checked_add(L->mark_off, nn, &L->rowcov_off)) return false;
  if (!checked_add(L->rowcov_off, n, &L->colcov_off)) return false;
  if (!checked_add(L->colcov_off, n, &t)) return false;
  L->total = t;
  return true;
}

// Working state; every array lives in the caller's workspace. T is the
// arithmetic type of the working matrix (double, or float for the float32
// variant).
template <typename T>
struct State {
  int n;
  T* cell;               // n x n working matrix, row-major
  int* path;             // 2n pairs (row, col): the alternating path of step 5
  unsigned char* mark;   // n x n: kNone / kStar / kPrime
  unsigned char* rowcov; // n
  unsigned char* colcov; // n
  int z0_row, z0_col;    // the unstarred prime that ends step 4
};

template <typename T>
inline T& at(State<T>& s, int i, int j) { return s.cell[static_cast<std::size_t>(i) * s.n + j]; }
template <typename T>
inline unsigned char& mk(State<T>& s, int i, int j) { return s.mark[static_cast<std::size_t>(i) * s.n + j]; }

template <typename T>
void clear_covers(State<T>& s) {
  for (int k = 0; k < s.n; ++k) {
    s.rowcov[k] = 0;
    s.colcov[k] = 0;
  }
}

// Copy `cost` (RxC) into the n x n working matrix, zero-padded.
template <typename T>
void load_padded(State<T>& s, const T* cost, int R, int C) {
  for (int i = 0; i < s.n; ++i)
    for (int j = 0; j < s.n; ++j)
      at(s, i, j) = (i < R && j < C) ? cost[static_cast<std::size_t>(i) * C + j] : T(0);
  const std::size_t nn = static_cast<std::size_t>(s.n) * s.n;
  for (std::size_t k = 0; k < nn; ++k) s.mark[k] = kNone;
  clear_covers(s);
}

// Step 1: reduce rows only. The minimum is over the padded row, so a real
// row with only positive costs is not reduced when padding columns exist.
template <typename T>
void reduce_rows(State<T>& s) {
  for (int i = 0; i < s.n; ++i) {
    T m = at(s, i, 0);
    for (int j = 1; j < s.n; ++j)
      if (at(s, i, j) < m) m = at(s, i, j);
    for (int j = 0; j < s.n; ++j) at(s, i, j) -= m;
  }
}

// Step 2: greedy stars in row-major order, at most one per row and column.
// The cover arrays serve as "row/column already starred" flags here.
template <typename T>
void star_greedy(State<T>& s) {
  for (int i = 0; i < s.n; ++i)
    for (int j = 0; j < s.n; ++j)
      if (at(s, i, j) == T(0) && !s.colcov[j] && !s.rowcov[i]) {
        mk(s, i, j) = kStar;
        s.colcov[j] = 1;
        s.rowcov[i] = 1;
        break;
      }
  clear_covers(s);
}

// Step 3: cover starred columns; true when all n are covered (done).
template <typename T>
bool cover_starred_columns(State<T>& s) {
  int count = 0;
  for (int i = 0; i < s.n; ++i)
    for (int j = 0; j < s.n; ++j)
      if (mk(s, i, j) == kStar && !s.colcov[j]) {
        s.colcov[j] = 1;
        ++count;
      }
  return count >= s.n;
}

// munkres' zero search: rows cyclically from i0, each row cyclically from
// column j0 (the same start column for every row). The scan of a row does not
// stop at a hit, so the last uncovered zero in that cyclic order is returned.
template <typename T>
bool find_uncovered_zero(State<T>& s, int i0, int j0, int* row, int* col) {
  int i = i0;
  do {
    if (!s.rowcov[i]) {
      int hit = -1;
      int j = j0;
      do {
        if (at(s, i, j) == T(0) && !s.colcov[j]) hit = j;
        j = (j + 1 == s.n) ? 0 : j + 1;
      } while (j != j0);
      if (hit >= 0) {
        *row = i;
        *col = hit;
        return true;
      }
    }
    i = (i + 1 == s.n) ? 0 : i + 1;
  } while (i != i0);
  return false;
}

template <typename T>
int first_in_row(State<T>& s, int i, unsigned char what) {
  for (int j = 0; j < s.n; ++j)
    if (mk(s, i, j) == what) return j;
  return -1;
}

template <typename T>
int first_in_col(State<T>& s, int j, unsigned char what) {
  for (int i = 0; i < s.n; ++i)
    if (mk(s, i, j) == what) return i;
  return -1;
}

// Step 4: prime uncovered zeros. Returns 5 (augment), 6 (adjust), or -1 if
// more than n rows would be covered (impossible for a consistent state).
// The search position is local to one call: it starts at (0, 0) and moves to
// (primed row, column of that row's star) after each prime.
template <typename T>
int prime_zeros(State<T>& s) {
  int row = 0, col = 0;
  for (int covered = 0;; ++covered) {
    if (covered > s.n) return -1;
    if (!find_uncovered_zero(s, row, col, &row, &col)) return 6;
    mk(s, row, col) = kPrime;
    const int star_col = first_in_row(s, row, kStar);
    if (star_col < 0) {
      s.z0_row = row;
      s.z0_col = col;
      return 5;
    }
    col = star_col;
    s.rowcov[row] = 1;
    s.colcov[col] = 0;
  }
}

// Step 5: flip stars and primes along the alternating path that starts at
// the prime found by step 4, then clear covers and primes. False if the path
// is malformed (cannot happen for a consistent state; guards the buffer).
template <typename T>
bool augment_path(State<T>& s) {
  const int cap = 2 * s.n;  // path capacity in pairs
  int count = 0;
  s.path[0] = s.z0_row;
  s.path[1] = s.z0_col;
  for (;;) {
    const int star_row = first_in_col(s, s.path[2 * count + 1], kStar);
    if (star_row < 0) break;
    if (count + 2 >= cap) return false;
    s.path[2 * (count + 1)] = star_row;
    s.path[2 * (count + 1) + 1] = s.path[2 * count + 1];
    ++count;
    const int prime_col = first_in_row(s, s.path[2 * count], kPrime);
    if (prime_col < 0) return false;
    s.path[2 * (count + 1)] = s.path[2 * count];
    s.path[2 * (count + 1) + 1] = prime_col;
    ++count;
  }
  for (int k = 0; k <= count; ++k) {
    unsigned char& m = mk(s, s.path[2 * k], s.path[2 * k + 1]);
    m = (m == kStar) ? kNone : kStar;
  }
  clear_covers(s);
  const std::size_t nn = static_cast<std::size_t>(s.n) * s.n;
  for (std::size_t k = 0; k < nn; ++k)
    if (s.mark[k] == kPrime) s.mark[k] = kNone;
  return true;
}

// Step 6. `x + m - m` must stay two roundings (no algebraic shortcut), since
// the Python code applies the two updates to the stored value one after the
// other, and later exact `== 0.0` tests depend on the rounded result.
// Returns false when nothing would change (munkres raises UnsolvableMatrix).
template <typename T>
bool adjust(State<T>& s) {
  T m = static_cast<T>(kMinSeed);  // 2^63 is exact in float and double
  for (int i = 0; i < s.n; ++i) {
    if (s.rowcov[i]) continue;
    for (int j = 0; j < s.n; ++j)
      if (!s.colcov[j] && m > at(s, i, j)) m = at(s, i, j);
  }
  bool changed = false;
  for (int i = 0; i < s.n; ++i) {
    for (int j = 0; j < s.n; ++j) {
      T& x = at(s, i, j);
      if (s.rowcov[i]) x += m;
      if (!s.colcov[j]) x -= m;
      if (s.rowcov[i] != static_cast<unsigned char>(!s.colcov[j])) changed = true;
    }
  }
  return changed;
}

void fill_unassigned(int* row_to_col, int R) {
  for (int r = 0; r < R; ++r) row_to_col[r] = -1;
}

template <typename T>
int solve(const T* cost, int R, int C, int* row_to_col, void* workspace) {
  if (R < 0 || C < 0) return kMunkresBadArgs;
  if (R > 0 && row_to_col == nullptr) return kMunkresBadArgs;
  fill_unassigned(row_to_col, R);
  if (R == 0 || C == 0) return kMunkresOk;  // nothing inside the original bounds
  if (cost == nullptr || workspace == nullptr) return kMunkresBadArgs;
  if (reinterpret_cast<std::uintptr_t>(workspace) % alignof(double) != 0) return kMunkresBadArgs;

  const std::size_t RC = static_cast<std::size_t>(R) * static_cast<std::size_t>(C);
  for (std::size_t k = 0; k < RC; ++k)
    if (!std::isfinite(cost[k])) return kMunkresNonFinite;

  const int n = R > C ? R : C;
  Layout L;
  if (!layout_for(static_cast<std::size_t>(n), &L)) return kMunkresBadArgs;
  unsigned char* base = static_cast<unsigned char*>(workspace);
  State<T> s;
  s.n = n;
  s.cell = reinterpret_cast<T*>(base + L.cells_off);  // sized for double, so float fits
  s.path = reinterpret_cast<int*>(base + L.path_off);
  s.mark = base + L.mark_off;
  s.rowcov = base + L.rowcov_off;
  s.colcov = base + L.colcov_off;
  s.z0_row = s.z0_col = 0;

  load_padded(s, cost, R, C);

  // Step budget. With exact zeros appearing after every step 6 (the new
  // minimum m satisfies m - m == 0), each phase between augmentations runs at
  // most n step-6 rounds (each is followed by a prime that covers a new row or
  // augments), and there are at most n phases: about 2n^2 + 3n + 2 steps in
  // all. 8(n+1)^2 + 1024 is far above that; only pathological magnitudes
  // (uncovered values >= 2^63, or overflow to inf) can reach it.
  const std::size_t n1 = static_cast<std::size_t>(n) + 1;
  const std::size_t budget = 8 * n1 * n1 + 1024;

  reduce_rows(s);
  star_greedy(s);
  int step = 3;
  for (std::size_t steps = 0;; ++steps) {
    if (steps >= budget) return kMunkresIterCap;
    if (step == 3) {
      if (cover_starred_columns(s)) break;
      step = 4;
    } else if (step == 4) {
      step = prime_zeros(s);
      if (step < 0) return kMunkresUnsolvable;
    } else if (step == 5) {
      if (!augment_path(s)) return kMunkresUnsolvable;
      step = 3;
    } else {  // step 6
      if (!adjust(s)) return kMunkresUnsolvable;
      step = 4;
    }
  }

  // munkres reports only pairs inside the original bounds.
  for (int r = 0; r < R; ++r) {
    const int c = first_in_row(s, r, kStar);
    row_to_col[r] = (c >= 0 && c < C) ? c : -1;
  }
  return kMunkresOk;
}

}  // namespace

std::size_t munkres114_workspace_bytes(int R, int C) {
  if (R <= 0 || C <= 0) return 0;  // nothing to solve, no scratch used
  const std::size_t n = static_cast<std::size_t>(R > C ? R : C);
  Layout L;
  if (!layout_for(n, &L)) return SIZE_MAX;
  return L.total;
}

int munkres114(const double* cost, int R, int C, int* row_to_col, void* workspace) {
  return solve(cost, R, C, row_to_col, workspace);
}

}  // namespace hrd
