// The emu and CUDA backends: the device stages (candidates, top-k, tags, shifts; refine searches) as kernel
// launches, the host stages (grouping, scoring, output) shared with the CPU backend (decode.cpp).
//
// This file is compiled twice: by nvcc as the CUDA backend (namespace hrd::cuda, real device memory) and,
// included from decode_emu.cpp, by the host compiler as the emulated backend (hrd::emu, where "device
// memory" is host memory and launches run on the CPU; see cuda/cuda_compat.h). So the host side of the CUDA
// path (buffer management, copies, launch sequence) runs in the tests too; only the CUDA calls themselves
// differ.
//
// Per batch: one launch sequence for the candidates of all N*K maps, one device-to-host copy of the
// candidates (a few hundred per image), grouping on the host, one upload of the refine queries, one launch
// sequence for all searches, one copy of the hits back. Two synchronisations per batch.
#include <chrono>
#include <map>
#include <vector>

#include "common/thread_pool.h"
#include "dark/udp.cu"
#include "decode/decode.h"
#include "nms/nms.cu"
#include "nms/nms_rule.h"
#include "refine/refine.cu"
#include "topk/topk.cu"

namespace hrd {
namespace HR_NS {
namespace {

using Clock = std::chrono::steady_clock;
inline double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

constexpr unsigned kBlock = 256;

// A device buffer that grows to the largest request and is then reused.
class DevBuffer {
 public:
  DevBuffer() = default;
  DevBuffer(const DevBuffer&) = delete;
  DevBuffer& operator=(const DevBuffer&) = delete;
  ~DevBuffer() { dev_free(p_); }
  template <typename T>
  T* get(size_t n, const char* what) {
    const size_t bytes = n * sizeof(T);
    if (bytes > cap_ || p_ == nullptr) {
      dev_free(p_);
      p_ = nullptr;
      cap_ = 0;
      p_ = dev_alloc(bytes, what);
      cap_ = bytes;
    }
    return static_cast<T*>(p_);
  }

 private:
  void* p_ = nullptr;
  size_t cap_ = 0;
};

// Per host thread: device buffers and host staging, reused across calls.
struct Workspace {
  DevBuffer heat, tags, cand, count, peaks, npeaks, ctags, shifts, keys;
  DevBuffer pix, npix, ptag, rows, queries, rkeys, hits;
  DevBuffer udp_log, udp_rows, udp_omax, udp_bmax;  // use_udp: log maps (NKxHxW), row pass, map maxima
  std::vector<int> count_h, npeaks_h;
  std::vector<Peak> peaks_h;
  std::vector<float> ctags_h, shifts_h, ptag_h;
  std::vector<DecodeScratch> scratch;
  std::vector<StageTimes> times;
  std::vector<int> status;
  std::vector<int64_t> pix_h;
  std::vector<int> npix_h;
  std::vector<RefineQuery> q_h;
  std::vector<int32_t> q_joint;   // Q: joint k of each query
  std::vector<int32_t> q_kp;      // Q: image n * (max people) + kept slot j, to find the keypoint row
  std::vector<DeviceHit> hits_h;
};

// Buffers belong to one device: one workspace per (host thread, device).
Workspace& workspace(int device) {
  thread_local std::map<int, Workspace> ws;
  return ws[device];
}

template <Variant V, bool ABS>
void launch_search(const float* heat, const float* tags, int H, int W, int L, const RefineQuery* q, int Q,
                   const float* ptag, unsigned long long* keys, stream_t st) {
  const int64_t HW = int64_t(H) * W;
  // Enough blocks per query that a large GPU is busy even with few queries; each thread still sees
  // several pixels.
  int64_t bpq = (HW + kBlock * 16 - 1) / (kBlock * 16);
  bpq = bpq < 1 ? 1 : (bpq > 32 ? 32 : bpq);
  auto* kernel = &refine_search_kernel<V, ABS>;  // (a template-id has a comma the macro would split)
  HR_LAUNCH(kernel, unsigned(Q * bpq), kBlock, st, heat, tags, H, W, L, q, Q, ptag, int(bpq), keys);
}

void search(Variant v, bool abs, const float* heat, const float* tags, int H, int W, int L, const RefineQuery* q,
            int Q, const float* ptag, unsigned long long* keys, stream_t st) {
  switch (v) {
    case Variant::HigherHRNet:
      return abs ? launch_search<Variant::HigherHRNet, true>(heat, tags, H, W, L, q, Q, ptag, keys, st)
                 : launch_search<Variant::HigherHRNet, false>(heat, tags, H, W, L, q, Q, ptag, keys, st);
    case Variant::MMPose:
      return abs ? launch_search<Variant::MMPose, true>(heat, tags, H, W, L, q, Q, ptag, keys, st)
                 : launch_search<Variant::MMPose, false>(heat, tags, H, W, L, q, Q, ptag, keys, st);
    case Variant::OMZ:
      return abs ? launch_search<Variant::OMZ, true>(heat, tags, H, W, L, q, Q, ptag, keys, st)
                 : launch_search<Variant::OMZ, false>(heat, tags, H, W, L, q, Q, ptag, keys, st);
  }
}

}  // namespace

// heat: NxKxHxW, tags: NxKxHxWxL (device memory, or host memory to upload when !on_device).
int decode_batch(const DecodeParams& prm, const float* heat_in, const float* tags_in, int N, int K, int H, int W,
                 int L, bool on_device, stream_t st, int device, std::vector<DecodeOutput>& outs, int* failed) {
  const auto t_start = Clock::now();
  Workspace& ws = workspace(device);
  const int64_t NK = int64_t(N) * K, HW = int64_t(H) * W;
  const int M = prm.max_people, C = prm.device_candidates;
  const int radius = (prm.nms_kernel - 1) / 2;
  const float thr = float_floor(prm.detection_threshold);
  outs.assign(size_t(N), DecodeOutput{});
  if (N == 0) return 0;

  // ---- inputs on the device ---------------------------------------------------------------------------
  auto t0 = Clock::now();
  const float* heat = heat_in;
  const float* tags = tags_in;
  if (!on_device) {
    float* h = ws.heat.get<float>(size_t(NK * HW), "heatmaps");
    float* t = ws.tags.get<float>(size_t(NK * HW * L), "tags");
    copy_to_device(h, heat_in, sizeof(float) * size_t(NK * HW), st, "heatmaps");
    copy_to_device(t, tags_in, sizeof(float) * size_t(NK * HW * L), st, "tags");
    heat = h;
    tags = t;
  }

  // ---- 1. candidates: NMS + compaction, top-M, tags and shifts ------------------------------------------
  int* count = ws.count.get<int>(size_t(NK), "candidate counts");
  Peak* cand = ws.cand.get<Peak>(size_t(NK) * C, "candidates");
  Peak* peaks = ws.peaks.get<Peak>(size_t(NK) * M, "top-k peaks");
  int* npeaks = ws.npeaks.get<int>(size_t(NK), "top-k counts");
  float* ctags = ws.ctags.get<float>(size_t(NK) * M * L, "candidate tags");
  float* shifts = ws.shifts.get<float>(size_t(NK) * M * 2, "candidate shifts");
  fill_zero(count, sizeof(int) * size_t(NK), st, "candidate counts");
  HR_LAUNCH(nms_compact_kernel, grid_for(NK * HW, kBlock), kBlock, st, heat, NK, H, W, radius, thr, C, cand, count);
  HR_LAUNCH(topk_rank_kernel, grid_for(NK * C, kBlock), kBlock, st, cand, count, NK, C, M, peaks, npeaks);
  // DARK-UDP: the log maps, which the shifts and the refine searches read instead of the heat maps.
  const DarkSpec sub = make_dark_spec(prm);
  const float* search_maps = heat;
  if (sub.mode == Subpixel::Udp) {
    float* logs = ws.udp_log.get<float>(size_t(NK * HW), "DARK-UDP log maps");
    float* rows = ws.udp_rows.get<float>(size_t(NK * HW), "DARK-UDP row pass");
    unsigned* omax = ws.udp_omax.get<unsigned>(size_t(NK), "DARK-UDP map maxima");
    unsigned* bmax = ws.udp_bmax.get<unsigned>(size_t(NK), "DARK-UDP blurred maxima");
    fill_zero(omax, sizeof(unsigned) * size_t(NK), st, "DARK-UDP map maxima");
    fill_zero(bmax, sizeof(unsigned) * size_t(NK), st, "DARK-UDP blurred maxima");
    HR_LAUNCH(udp_max_kernel, grid_for(NK * HW, kBlock), kBlock, st, heat, NK, HW, omax);
    HR_LAUNCH(udp_row_kernel, grid_for(NK * HW, kBlock), kBlock, st, heat, NK, H, W, sub, rows);
    HR_LAUNCH(udp_col_kernel, grid_for(NK * HW, kBlock), kBlock, st, rows, NK, H, W, sub, logs, bmax);
    HR_LAUNCH(udp_log_kernel, grid_for(NK * HW, kBlock), kBlock, st, logs, NK, HW, omax, bmax);
    search_maps = logs;
  }
  auto details_and_download = [&] {
    HR_LAUNCH(candidate_details_kernel, grid_for(NK * M, kBlock), kBlock, st, search_maps, tags, NK, H, W, L, M,
              peaks, npeaks, prm.variant, prm.heat_abs, prm.adjust, sub, ctags, shifts);
    ws.count_h.resize(size_t(NK));
    ws.npeaks_h.resize(size_t(NK));
    ws.peaks_h.resize(size_t(NK) * M);
    ws.ctags_h.resize(size_t(NK) * M * L);
    ws.shifts_h.resize(size_t(NK) * M * 2);
    copy_to_host(ws.count_h.data(), count, sizeof(int) * size_t(NK), st, "candidate counts");
    copy_to_host(ws.npeaks_h.data(), npeaks, sizeof(int) * size_t(NK), st, "top-k counts");
    copy_to_host(ws.peaks_h.data(), peaks, sizeof(Peak) * size_t(NK) * M, st, "top-k peaks");
    copy_to_host(ws.ctags_h.data(), ctags, sizeof(float) * size_t(NK) * M * L, st, "candidate tags");
    copy_to_host(ws.shifts_h.data(), shifts, sizeof(float) * size_t(NK) * M * 2, st, "candidate shifts");
    sync(st, "candidates");
  };
  details_and_download();
  bool overflow = false;
  for (int64_t i = 0; i < NK; ++i) overflow = overflow || ws.count_h[size_t(i)] > C;
  if (overflow) {
    // Rare (more NMS survivors than C on some map): M exact selection rounds over those maps only.
    unsigned long long* keys = ws.keys.get<unsigned long long>(size_t(NK) * M, "top-k keys");
    fill_zero(keys, sizeof(unsigned long long) * size_t(NK) * M, st, "top-k keys");
    for (int r = 0; r < M; ++r)
      HR_LAUNCH(topk_round_kernel, grid_for(NK * HW, kBlock), kBlock, st, heat, NK, H, W, radius, thr, count, C, M,
                r, keys);
    HR_LAUNCH(topk_rounds_to_peaks_kernel, grid_for(NK, kBlock), kBlock, st, heat, NK, HW, count, C, M, keys, peaks,
              npeaks);
    details_and_download();
  }
  const double cand_ms = ms_since(t0);

  // ---- 2-3. grouping and scores, on the host, images in parallel ------------------------------------------
  if (ws.scratch.size() < size_t(N)) ws.scratch.resize(size_t(N));
  ws.times.assign(size_t(N), StageTimes{});
  ws.status.assign(size_t(N), 0);
  parallel_for(N, prm.threads, [&](int n) {
    DecodeScratch& s = ws.scratch[size_t(n)];
    const size_t km = size_t(K) * M;
    s.peaks.assign(ws.peaks_h.begin() + n * km, ws.peaks_h.begin() + (n + 1) * km);
    s.counts.assign(ws.npeaks_h.begin() + size_t(n) * K, ws.npeaks_h.begin() + size_t(n + 1) * K);
    s.ctags.assign(ws.ctags_h.begin() + n * km * L, ws.ctags_h.begin() + (n + 1) * km * L);
    s.shifts.assign(ws.shifts_h.begin() + n * km * 2, ws.shifts_h.begin() + (n + 1) * km * 2);
    ws.status[size_t(n)] = group_and_score(prm, K, H, W, L, nullptr, s, ws.times[size_t(n)]);
  });
  for (int n = 0; n < N; ++n)
    if (ws.status[size_t(n)] != 0) {
      *failed = n;
      return ws.status[size_t(n)];
    }

  // ---- 4. refine: every (person, missing joint) of the batch in one launch sequence ----------------------
  t0 = Clock::now();
  const bool omz = prm.variant == Variant::OMZ;
  int64_t searches = 0;
  if (prm.refine) {
    ws.pix_h.clear();
    ws.npix_h.clear();
    ws.ptag_h.clear();
    ws.q_h.clear();
    ws.q_joint.clear();
    ws.q_kp.clear();
    std::vector<float*> person_kp;  // keypoint row of each person-tag row
    int R = 0;
    for (int n = 0; n < N; ++n) {
      DecodeScratch& s = ws.scratch[size_t(n)];
      for (int j = 0; j < s.NP; ++j) {
        float* kp = &s.kp[size_t(s.keep[j]) * K * 3];
        if (omz) {
          const float* t = &s.groups.tag_mean[size_t(omz_tag_row(prm, s, j)) * L];
          ws.ptag_h.insert(ws.ptag_h.end(), t, t + L);
        } else {
          ws.pix_h.resize(size_t(R + 1) * K);
          const int np = person_tag_pixels(kp, K, H, W, &ws.pix_h[size_t(R) * K]);
          if (np == 0) {
            ws.pix_h.resize(size_t(R) * K);
            continue;
          }
          for (int i = 0; i < np; ++i) ws.pix_h[size_t(R) * K + i] += int64_t(n) * K * HW;
          ws.npix_h.push_back(np);
        }
        for (int k = 0; k < K; ++k) {
          if (s.groups.cand[size_t(s.keep[j]) * K + k] >= 0) continue;
          ws.q_h.push_back(RefineQuery{int32_t(n * K + k), int32_t(R)});
          ws.q_joint.push_back(k);
        }
        person_kp.push_back(kp);
        ++R;
      }
    }
    const int Q = int(ws.q_h.size());
    searches = Q;
    if (Q > 0) {
      float* ptag = ws.ptag.get<float>(size_t(R) * L, "person tags");
      if (omz) {
        copy_to_device(ptag, ws.ptag_h.data(), sizeof(float) * size_t(R) * L, st, "person tags");
      } else {
        int64_t* pix = ws.pix.get<int64_t>(size_t(R) * K, "person tag pixels");
        int* npix = ws.npix.get<int>(size_t(R), "person tag pixel counts");
        float* rows = ws.rows.get<float>(size_t(R) * K * L, "person tag rows");
        copy_to_device(pix, ws.pix_h.data(), sizeof(int64_t) * size_t(R) * K, st, "person tag pixels");
        copy_to_device(npix, ws.npix_h.data(), sizeof(int) * size_t(R), st, "person tag pixel counts");
        HR_LAUNCH(person_tag_kernel, grid_for(R, kBlock), kBlock, st, tags, L, K, pix, npix, R, rows, ptag);
      }
      RefineQuery* q = ws.queries.get<RefineQuery>(size_t(Q), "refine queries");
      unsigned long long* rkeys = ws.rkeys.get<unsigned long long>(size_t(Q), "refine keys");
      DeviceHit* hits = ws.hits.get<DeviceHit>(size_t(Q), "refine hits");
      copy_to_device(q, ws.q_h.data(), sizeof(RefineQuery) * size_t(Q), st, "refine queries");
      fill_zero(rkeys, sizeof(unsigned long long) * size_t(Q), st, "refine keys");
      search(prm.variant, prm.heat_abs, search_maps, tags, H, W, L, q, Q, ptag, rkeys, st);
      HR_LAUNCH(refine_finish_kernel, grid_for(Q, kBlock), kBlock, st, search_maps, H, W, q, Q, rkeys, prm.variant,
                prm.heat_abs, sub, hits);
      ws.hits_h.resize(size_t(Q));
      copy_to_host(ws.hits_h.data(), hits, sizeof(DeviceHit) * size_t(Q), st, "refine hits");
      sync(st, "refine");
      for (int i = 0; i < Q; ++i) {
        const DeviceHit& h = ws.hits_h[size_t(i)];
        if (h.idx < 0) continue;
        apply_refine_hit(prm.variant, prm.delta, person_kp[size_t(ws.q_h[size_t(i)].person)], ws.q_joint[size_t(i)],
                         h.idx % W, h.idx / W, h.heat, h.sx, h.sy);
      }
    }
  }
  const double refine_ms = ms_since(t0);

  // ---- 5. output --------------------------------------------------------------------------------------
  const double total_ms = ms_since(t_start);
  for (int n = 0; n < N; ++n) {
    write_output(prm, K, ws.scratch[size_t(n)], outs[size_t(n)]);
    StageTimes tm = ws.times[size_t(n)];
    tm.candidates_ms = cand_ms;  // batch-wide stages: the whole batch's time
    tm.refine_ms = refine_ms;
    tm.refine_searches = searches;
    tm.refine_pixels = searches * HW;
    tm.total_ms = total_ms;
    outs[size_t(n)].times = tm;
  }
  return 0;
}

}  // namespace HR_NS

#if defined(__CUDACC__)
namespace {
// Makes `device` current for the scope and restores the caller's device after (also on exceptions).
class DeviceGuard {
 public:
  explicit DeviceGuard(int device) {
    cuda::check(cudaGetDevice(&prev_), "cudaGetDevice", "current device");
    if (device >= 0 && device != prev_) {
      cuda::check(cudaSetDevice(device), "cudaSetDevice", "the inputs' device");
      set_ = true;
    }
  }
  ~DeviceGuard() {
    if (set_) (void)cudaSetDevice(prev_);
  }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;
  int current(int device) const { return device >= 0 ? device : prev_; }

 private:
  int prev_ = 0;
  bool set_ = false;
};
}  // namespace

int decode_batch_cuda(const DecodeParams& prm, const float* heat, const float* tags, int N, int K, int H, int W,
                      int L, bool inputs_on_device, uintptr_t stream, int device, std::vector<DecodeOutput>& outs,
                      int* failed) {
  DeviceGuard guard(device);
  return cuda::decode_batch(prm, heat, tags, N, K, H, W, L, inputs_on_device,
                            reinterpret_cast<cudaStream_t>(stream), guard.current(device), outs, failed);
}
#else
int decode_batch_emu(const DecodeParams& prm, const float* heat, const float* tags, int N, int K, int H, int W,
                     int L, std::vector<DecodeOutput>& outs, int* failed) {
  return emu::decode_batch(prm, heat, tags, N, K, H, W, L, true, nullptr, 0, outs, failed);
}
#endif

}  // namespace hrd
