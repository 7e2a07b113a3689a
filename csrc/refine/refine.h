// Missing-joint search ("refine"): for one person tag p and one joint map, the pixel maximising
// heat - penalty(tag, p), first index on ties (rules in refine_rule.h).
#pragma once
#include <cstdint>

#include "common/types.h"

namespace hrd {

// Per-tile summaries of one joint's maps, computed once per image and shared by every search on that joint.
// Tiles are T x T pixels (the last row/column of tiles may be smaller).
struct TileGrid {
  int T, TY, TX;  // tile size, tiles down, tiles across
};
inline TileGrid make_tile_grid(int H, int W, int T) { return TileGrid{T, (H + T - 1) / T, (W + T - 1) / T}; }

// hmax: TYxTX, largest finite heat (|heat| if heat_abs) of each tile, -inf if none.
// tlo, thi: TYxTXxL, smallest and largest finite tag value per dimension (tlo > thi if none).
void tile_summaries_hw(const float* heat,  // HxW
                       const float* tags,  // HxWxL
                       int H, int W, int L, TileGrid grid, bool heat_abs,
                       float* hmax, float* tlo, float* thi);

struct RefineHit {
  int32_t idx;  // flat index of the winning pixel, -1 if no pixel has a finite heat and score
  float heat;   // heat (|heat| if heat_abs) at that pixel
  int64_t pixels = 0;  // pixels evaluated
};

// Indices of the (up to) n tiles with the greatest hmax, hottest first. Returns how many were written.
int hottest_tiles(const float* hmax, int NT, int n, int32_t* out /* n */);

// Exact argmax using the tile summaries to skip tiles whose upper bound cannot beat the best so far.
// hot: the hottest tiles (hottest_tiles), scanned first to raise the bar early.
RefineHit refine_search_hw(Variant variant, const float* heat, const float* tags, int H, int W, int L,
                           const float* person_tag,  // L
                           bool heat_abs, TileGrid grid, const float* hmax, const float* tlo,
                           const float* thi, const int32_t* hot, int n_hot);

// The same search by visiting every pixel: the definition the pruned search is tested against.
RefineHit refine_search_brute_hw(Variant variant, const float* heat, const float* tags, int H, int W, int L,
                                 const float* person_tag, bool heat_abs);

}  // namespace hrd
