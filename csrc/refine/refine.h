// Missing-joint search ("refine"): for one person tag p and one joint map, the pixel maximising
// heat - penalty(tag, p), first index on ties (rules in refine_rule.h).
//
// Exact pruning: per-tile summaries (hottest heat, range of each tag dimension) bound every pixel's score
// from above (see refine_rule.h). The hot tiles are kept in decreasing order of their hottest heat; since
// penalties are >= 0, a search can stop at the first tile whose heat is below the best score found, and
// skips a tile whose bound cannot beat it. tests/test_decoder.py proves the result equal to the brute-force scan.
#pragma once
#include <cstddef>
#include <cstdint>

#include "common/types.h"

namespace hrd {

struct TileGrid {
  int T, TY, TX;  // tile size in pixels, tiles down, tiles across
};
inline TileGrid make_tile_grid(int H, int W, int T) { return TileGrid{T, (H + T - 1) / T, (W + T - 1) / T}; }

// Summaries of one joint's maps. hmax: the hottest heat (|heat| if heat_abs) of every tile: at least its
// largest finite value (+inf pixels may count, which only loosens bounds), -inf if none, never NaN.
// Heat bucket of a tile: the top 14 bits of the order-preserving key of its hmax. The "hot" tiles are the
// hottest whole buckets, at least a quarter of the tiles (an eighth on large maps): order lists them by
// decreasing bucket, ascending index within a bucket, with their first pixel (ooff), their hmax (ohmax)
// and the smallest and largest finite tag value of each dimension (olo, ohi: n_hot x L, lo > hi if none).
// The tag ranges are filled on demand by the searches, a prefix of the order at a time (info[3] = its
// length): most searches stop within the first hot tiles, so the tail's tags are often never read.
// info[0..1] = (n_hot, cut): every other ("cold") tile has a bucket below cut (0: there is none); a search
// reaches them only when its best score stays below that, and then reads their tags itself. rbkt, hot_t,
// hot_off, count: the sort's scratch. clo/chi (info[2] says whether filled): the cold tiles' tag ranges.
// Searches write the summary (ranges, cold ranges): the searches of one summary must not run at the same
// time (decode_image gives each joint's searches to one thread).
struct TileSummary {
  float* hmax;      // TYxTX
  int32_t* order;   // n_hot (+ padding: the bound loop reads whole blocks)
  int32_t* ooff;    // n_hot (+ padding): flat index of the tile's first pixel; the top bit set if the border cuts it
  float* ohmax;     // n_hot (+ padding)
  float* olo;       // (n_hot + padding) x L
  float* ohi;       // (n_hot + padding) x L
  int32_t* info;    // 4: n_hot, cut, cold ranges filled (0/1), hot ranges filled (a prefix of order)
  int32_t* rbkt;    // TYxTX
  int32_t* hot_t;   // TYxTX + padding (the 4-wide compaction stores whole vectors)
  int32_t* hot_off; // TYxTX + padding
  int32_t* count;   // bucket counters
  float* clo;       // TYxTX x L: each cold tile's tag range (null for 4x4 tiles with L = 1, whose searches
  float* chi;       // read them as they go), filled by the first search that reaches the cold tiles
};
// 4-byte words needed for one joint's summaries (plus the bucket counts); carve them with tile_summary_at.
std::size_t tile_summary_words(TileGrid g, int L);
TileSummary tile_summary_at(float* base, TileGrid g, int L);

// The heat part of the summaries (hmax, the hot tiles' order); the searches read the tags. hmax_ready:
// out.hmax was already filled (4x4 tiles: by topk_candidates_hw in the NMS pass).
void tile_summaries_hw(const float* heat,  // HxW
                       int H, int W, int L, TileGrid grid, bool heat_abs, const TileSummary& out,
                       bool hmax_ready = false);

struct RefineHit {
  int32_t idx;         // flat index of the winning pixel, -1 if no pixel has a finite heat and score
  float heat;          // heat (|heat| if heat_abs) at that pixel
  int64_t pixels = 0;  // pixels evaluated
};

// Exact argmax with pruning.
RefineHit refine_search_hw(Variant variant, const float* heat, const float* tags, int H, int W, int L,
                           const float* person_tag,  // L
                           bool heat_abs, TileGrid grid, const TileSummary& sum);

// The same search visiting every pixel: the definition the pruned search is tested against.
RefineHit refine_search_brute_hw(Variant variant, const float* heat, const float* tags, int H, int W, int L,
                                 const float* person_tag, bool heat_abs);

}  // namespace hrd
