// Hungarian assignment that reproduces munkres 1.1.4 (`Munkres().compute`)
// assignment-for-assignment, including its tie-breaking.
//
// Algorithm: the Munkres/Kuhn "step 1..6" method as implemented in the PyPI
// package munkres 1.1.4 by Brian M. Clapper (Apache-2.0,
// https://software.clapper.org/munkres/). This is an independent C++
// implementation of that algorithm; see munkres.cpp for the behaviours that
// decide which of several optimal assignments is returned.
#pragma once
#include <cstddef>

namespace hrd {

// Status codes returned by munkres114 (0 = success).
constexpr int kMunkresOk = 0;
constexpr int kMunkresBadArgs = -1;      // R < 0, C < 0, null pointer, or misaligned workspace
constexpr int kMunkresNonFinite = -2;    // a cost is NaN or +-inf
constexpr int kMunkresIterCap = -3;      // step budget exhausted (see munkres.cpp)
constexpr int kMunkresUnsolvable = -4;   // step 6 changed nothing (unreachable for finite input)

// Scratch size in bytes for an R x C problem (0 when R <= 0 or C <= 0; SIZE_MAX
// if the size does not fit in size_t). The solver allocates nothing itself.
// The workspace must be aligned to alignof(double) (8 bytes): memory from
// std::vector<double>, new std::max_align_t[] or malloc qualifies. A
// misaligned or null (when the size is nonzero) workspace yields
// kMunkresBadArgs.
std::size_t munkres114_workspace_bytes(int R, int C);

// cost: RxC, row-major, double, all finite. row_to_col: R (output).
// row_to_col[r] is the column in [0, C) assigned to row r, or -1 when munkres
// 1.1.4 would give row r a padding column (only possible when R > C).
// Returns 0 on success or a negative kMunkres* status; on failure row_to_col
// is filled with -1. Thread-safe: no global state, no allocation, no throw.
int munkres114(const double* cost, int R, int C, int* row_to_col, void* workspace);

}  // namespace hrd
