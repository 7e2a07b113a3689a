// Rectangular linear sum assignment that reproduces
// scipy.optimize.linear_sum_assignment (scipy >= 1.4) assignment-for-assignment,
// including its tie-breaking.
//
// Algorithm: the shortest augmenting path method described in
//   D. F. Crouse, "On implementing 2D rectangular assignment algorithms",
//   IEEE Transactions on Aerospace and Electronic Systems 52(4):1679-1696,
//   2016, doi:10.1109/TAES.2016.140952,
// in the form implemented by SciPy (rectangular_lsap, BSD-3-Clause). This is an
// independent C++ implementation; see lsap.cpp for the tie-breaking details.
#pragma once
#include <cstddef>

namespace hrd {

// Status codes returned by lsap (0 = success).
constexpr int kLsapOk = 0;
constexpr int kLsapBadArgs = -1;     // R < 0, C < 0, null pointer, or misaligned workspace
constexpr int kLsapInvalid = -2;     // a cost is NaN or -inf (scipy: "invalid numeric entries")
constexpr int kLsapInfeasible = -3;  // +inf costs leave no complete assignment (scipy: "infeasible")
constexpr int kLsapIterCap = -4;     // internal guard tripped (unreachable for valid input)

// Scratch size in bytes for an R x C problem (0 when R <= 0 or C <= 0; SIZE_MAX
// if the size does not fit in size_t). The solver allocates nothing itself.
// The workspace must be aligned to alignof(double) (8 bytes): memory from
// std::vector<double>, new std::max_align_t[] or malloc qualifies. A
// misaligned or null (when the size is nonzero) workspace yields kLsapBadArgs.
std::size_t lsap_workspace_bytes(int R, int C);

// cost: RxC, row-major, double. row_to_col: R (output).
// row_to_col[r] is the column assigned to row r, or -1 for the R - C rows left
// unassigned when R > C. As in scipy, +inf marks a forbidden pair (allowed as
// long as a complete assignment of finite cost exists); NaN and -inf are
// errors. Returns 0 on success or a negative kLsap* status; on failure
// row_to_col is filled with -1. Thread-safe: no global state, no allocation,
// no throw.
int lsap(const double* cost, int R, int C, int* row_to_col, void* workspace);

}  // namespace hrd
