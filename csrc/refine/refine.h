// Missing-joint search ("refine"): for one person tag p and one joint map, the pixel maximising
// heat - penalty(tag, p), first index on ties (rules in refine_rule.h).
//
// Exact pruning: per-tile summaries (hottest heat, range of each tag dimension) bound every pixel's score
// from above (see refine_rule.h), on two levels: fine tiles of T x T pixels, grouped into coarse tiles of
// F x F fine tiles. A search visits coarse tiles whose bound can beat the best so far, inside them the fine
// tiles whose bound can, and scans only those pixels. tests/test_decoder.py proves it equal to the brute-force
// scan.
#pragma once
#include <cstddef>
#include <cstdint>

#include "common/types.h"

namespace hrd {

struct TileGrid {
  int T, TY, TX;  // fine tile size in pixels, fine tiles down, across
  int F, CY, CX;  // coarse tile size in fine tiles, coarse tiles down, across
};
inline TileGrid make_tile_grid(int H, int W, int T, int F) {
  const int TY = (H + T - 1) / T, TX = (W + T - 1) / T;
  return TileGrid{T, TY, TX, F, (TY + F - 1) / F, (TX + F - 1) / F};
}

// Summaries of one joint's maps. hmax: largest finite heat (|heat| if heat_abs) per tile, -inf if none;
// tlo, thi: smallest and largest finite tag value per tile and dimension (tlo > thi if none).
struct TileSummary {
  float* hmax;  // TYxTX
  float* tlo;   // TYxTXxL
  float* thi;   // TYxTXxL
  float* chmax; // CYxCX
  float* ctlo;  // CYxCXxL
  float* cthi;  // CYxCXxL
};
// Floats needed for one joint's summaries; carve them with tile_summary_at.
std::size_t tile_summary_floats(TileGrid g, int L);
TileSummary tile_summary_at(float* base, TileGrid g, int L);

void tile_summaries_hw(const float* heat,  // HxW
                       const float* tags,  // HxWxL
                       int H, int W, int L, TileGrid grid, bool heat_abs, const TileSummary& out);

// Indices of the (up to) n coarse tiles with the greatest heat, hottest first. Returns how many.
int hottest_tiles(const TileSummary& s, TileGrid g, int n, int32_t* out /* n */);

struct RefineHit {
  int32_t idx;         // flat index of the winning pixel, -1 if no pixel has a finite heat and score
  float heat;          // heat (|heat| if heat_abs) at that pixel
  int64_t pixels = 0;  // pixels evaluated
};

// Exact argmax with pruning. hot: hottest_tiles() of this joint, searched first to raise the bar early.
RefineHit refine_search_hw(Variant variant, const float* heat, const float* tags, int H, int W, int L,
                           const float* person_tag,  // L
                           bool heat_abs, TileGrid grid, const TileSummary& sum, const int32_t* hot, int n_hot);

// The same search visiting every pixel: the definition the pruned search is tested against.
RefineHit refine_search_brute_hw(Variant variant, const float* heat, const float* tags, int H, int W, int L,
                                 const float* person_tag, bool heat_abs);

}  // namespace hrd
