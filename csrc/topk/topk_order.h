// The top-k order: value descending, then flat index ascending. A total order, so CPU and CUDA results are
// identical whatever the schedule. (torch.topk leaves the tie order unspecified; this is hrdecode's choice.)
#pragma once
#include "common/host_device.h"
#include "common/numeric.h"
#include "common/types.h"

namespace hrd {

HRD_INLINE bool ranks_before(Peak a, Peak b) {
  return a.val > b.val || (a.val == b.val && a.idx < b.idx);
}

// The same order as one integer (larger key ranks first); the device's selection rounds use it.
HRD_INLINE unsigned long long topk_key(Peak p) { return value_index_key(p.val, p.idx); }

// Insert p into list (count entries, sorted by ranks_before, capacity M). Returns the new count.
HRD_INLINE int topk_insert(Peak* list /* M */, int count, int M, Peak p) {
  if (count == M) {
    if (M == 0 || !ranks_before(p, list[M - 1])) return count;
    --count;
  }
  int i = count;
  while (i > 0 && ranks_before(p, list[i - 1])) {
    list[i] = list[i - 1];
    --i;
  }
  list[i] = p;
  return count + 1;
}

}  // namespace hrd
