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

// munkres seeds its minimum search with the Python int sys.maxsize
// (2^63 - 1). For a double x, `x < 2^63 - 1` holds exactly when `x < 2^63`,
// and adding the int to a double rounds it to 2^63, so 2^63 is equivalent.
constexpr double kMinSeed = 9223372036854775808.0;  // 2^63

struct Layout {
  std::size_t cells_off, colm_off, path_off, marks_off, rowcov_off, colcov_off, total;
};

// Workspace for order n: cells n*n doubles | step 6 column amounts n doubles | path 2n (row, col) int
// pairs | marks 3n ints (star column of each row, star row of each column, prime column of each row) |
// row covers n bytes | col covers n bytes.
bool layout_for(std::size_t n, Layout* L) {
  std::size_t nn, cells_bytes, colm_bytes, path_bytes, marks_bytes, t;
  if (!checked_mul(n, n, &nn)) return false;
  if (!checked_mul(nn, sizeof(double), &cells_bytes)) return false;
  if (!checked_mul(n, sizeof(double), &colm_bytes)) return false;
  if (!checked_mul(n, 4 * sizeof(int), &path_bytes)) return false;
  if (!checked_mul(n, 3 * sizeof(int), &marks_bytes)) return false;
  L->cells_off = 0;
  L->colm_off = cells_bytes;
  if (!checked_add(L->colm_off, colm_bytes, &L->path_off)) return false;
  if (!checked_add(L->path_off, path_bytes, &L->marks_off)) return false;
  if (!checked_add(L->marks_off, marks_bytes, &L->rowcov_off)) return false;
  if (!checked_add(L->rowcov_off, n, &L->colcov_off)) return false;
  if (!checked_add(L->colcov_off, n, &t)) return false;
  L->total = t;
  return true;
}

// Working state; every array lives in the caller's workspace. T is the
// arithmetic type of the working matrix (double, or float for the float32
// variant). munkres keeps an n x n mark matrix; stars are independent (at most
// one per row and per column) and a row holds at most one prime (priming a
// row either covers it or ends the phase, and step 5 clears every prime), so
// three index arrays hold the same marks and answer its "first star/prime in
// this row/column" searches directly.
template <typename T>
struct State {
  int n;
  T* cell;               // n x n working matrix, row-major
  T* colm;               // n: step 6's amount subtracted in each column
  int* path;             // 2n pairs (row, col): the alternating path of step 5
  int* star_col;         // n: column of the star in each row, -1 if none
  int* star_row;         // n: row of the star in each column, -1 if none
  int* prime_col;        // n: column of the prime in each row, -1 if none
  unsigned char* rowcov; // n
  unsigned char* colcov; // n
  int z0_row, z0_col;    // the unstarred prime that ends step 4
};

template <typename T>
inline T& at(State<T>& s, int i, int j) { return s.cell[static_cast<std::size_t>(i) * s.n + j]; }

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
  for (int k = 0; k < s.n; ++k) s.star_col[k] = s.star_row[k] = s.prime_col[k] = -1;
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
template <typename T>
void star_greedy(State<T>& s) {
  for (int i = 0; i < s.n; ++i)
    for (int j = 0; j < s.n; ++j)
      if (at(s, i, j) == T(0) && s.star_row[j] < 0) {
        s.star_col[i] = j;
        s.star_row[j] = i;
        break;
      }
}

// Step 3: cover starred columns; true when all n are covered (done).
template <typename T>
bool cover_starred_columns(State<T>& s) {
  int count = 0;
  for (int j = 0; j < s.n; ++j)
    if (s.star_row[j] >= 0 && !s.colcov[j]) {
      s.colcov[j] = 1;
      ++count;
    }
  return count >= s.n;
}

// Last uncovered zero of row i among columns [lo, hi), or -1.
template <typename T>
inline int last_uncovered_zero(State<T>& s, int i, int lo, int hi) {
  const T* row = s.cell + static_cast<std::size_t>(i) * s.n;
  for (int j = hi - 1; j >= lo; --j)
    if (row[j] == T(0) && !s.colcov[j]) return j;
  return -1;
}

// munkres' zero search: rows cyclically from i0, each row cyclically from
// column j0 (the same start column for every row). The scan of a row does not
// stop at a hit, so the last uncovered zero in that cyclic order (j0..n-1,
// 0..j0-1) is returned: searched here from the end of that order.
template <typename T>
bool find_uncovered_zero(State<T>& s, int i0, int j0, int* row, int* col) {
  int i = i0;
  do {
    if (!s.rowcov[i]) {
      int hit = last_uncovered_zero(s, i, 0, j0);
      if (hit < 0) hit = last_uncovered_zero(s, i, j0, s.n);
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
    s.prime_col[row] = col;
    const int star_col = s.star_col[row];
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
    const int star_row = s.star_row[s.path[2 * count + 1]];
    if (star_row < 0) break;
    if (count + 2 >= cap) return false;
    s.path[2 * (count + 1)] = star_row;
    s.path[2 * (count + 1) + 1] = s.path[2 * count + 1];
    ++count;
    const int prime_col = s.prime_col[s.path[2 * count]];
    if (prime_col < 0) return false;
    s.path[2 * (count + 1)] = s.path[2 * count];
    s.path[2 * (count + 1) + 1] = prime_col;
    ++count;
  }
  // The path alternates prime (even k), star (odd k): stars are removed first, then the primes starred.
  for (int k = 1; k <= count; k += 2) {
    s.star_col[s.path[2 * k]] = -1;
    s.star_row[s.path[2 * k + 1]] = -1;
  }
  for (int k = 0; k <= count; k += 2) {
    s.star_col[s.path[2 * k]] = s.path[2 * k + 1];
    s.star_row[s.path[2 * k + 1]] = s.path[2 * k];
  }
  clear_covers(s);
  for (int k = 0; k < s.n; ++k) s.prime_col[k] = -1;
  return true;
}

// Step 6. `x + m - m` must stay two roundings (no algebraic shortcut), since
// the Python code applies the two updates to the stored value one after the
// other, and later exact `== 0.0` tests depend on the rounded result. An
// uncovered column subtracts m, a covered one 0 (x - 0 == x exactly, -0
// included), so every row is one branch-free loop.
// Returns false when nothing would change (munkres raises UnsolvableMatrix).
template <typename T>
bool adjust(State<T>& s) {
  T m = static_cast<T>(kMinSeed);  // 2^63 is exact in float and double
  for (int i = 0; i < s.n; ++i) {
    if (s.rowcov[i]) continue;
    for (int j = 0; j < s.n; ++j)
      if (!s.colcov[j] && m > at(s, i, j)) m = at(s, i, j);
  }
  bool rows_cov = false, rows_unc = false, cols_cov = false, cols_unc = false;
  for (int k = 0; k < s.n; ++k) {
    s.colm[k] = s.colcov[k] ? T(0) : m;
    (s.rowcov[k] ? rows_cov : rows_unc) = true;
    (s.colcov[k] ? cols_cov : cols_unc) = true;
  }
  for (int i = 0; i < s.n; ++i) {
    T* row = s.cell + static_cast<std::size_t>(i) * s.n;
    if (s.rowcov[i]) {
      for (int j = 0; j < s.n; ++j) row[j] = (row[j] + m) - s.colm[j];
    } else {
      for (int j = 0; j < s.n; ++j) row[j] = row[j] - s.colm[j];
    }
  }
  // munkres' "changed": some element is in a covered row and column or in an uncovered row and column.
  return (rows_cov && cols_cov) || (rows_unc && cols_unc);
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
  s.colm = reinterpret_cast<T*>(base + L.colm_off);
  s.path = reinterpret_cast<int*>(base + L.path_off);
  s.star_col = reinterpret_cast<int*>(base + L.marks_off);
  s.star_row = s.star_col + n;
  s.prime_col = s.star_row + n;
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
    const int c = s.star_col[r];
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
