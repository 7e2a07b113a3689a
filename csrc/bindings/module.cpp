// The only C++ that knows about Python: argument checks ("expected ..., got ..."), array conversion, GIL
// release. No decoding logic lives here.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/cpu_features.h"
#include "common/thread_pool.h"
#include "decode/decode.h"
#include "group/lsap.h"
#include "group/munkres.h"
#include "nms/nms.h"
#include "refine/refine.h"
#include "cuda/device.h"
#include "cuda/emu_mode.h"

namespace py = pybind11;
using namespace hrd;

namespace {

std::string shape_str(const py::array& a) {
  std::ostringstream os;
  os << "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) os << (i ? ", " : "") << a.shape(i);
  os << (a.ndim() == 1 ? ",)" : ")");
  return os.str();
}

// A C-contiguous array of dtype T with the given ndim; anything else is a caller bug in the Python layer.
template <typename T>
void check_array(const py::array& a, const char* name, int ndim) {
  if (!py::isinstance<py::array_t<T>>(a) || !(a.flags() & py::array::c_style))
    throw py::type_error(std::string(name) + ": expected a C-contiguous " + py::str(py::dtype::of<T>()).cast<std::string>() +
                         " array, got dtype " + py::str(a.dtype()).cast<std::string>());
  if (a.ndim() != ndim)
    throw py::value_error(std::string(name) + ": expected " + std::to_string(ndim) + " dimensions, got shape " +
                          shape_str(a));
}

py::dict times_dict(const StageTimes& t) {
  py::dict d;
  d["candidates_ms"] = t.candidates_ms;
  d["group_ms"] = t.group_ms;
  d["adjust_ms"] = t.adjust_ms;
  d["refine_ms"] = t.refine_ms;
  d["total_ms"] = t.total_ms;
  d["refine_tiles_ms"] = t.refine_tiles_ms;
  d["refine_searches"] = t.refine_searches;
  d["refine_pixels"] = t.refine_pixels;
  return d;
}

void check_params(const DecodeParams& prm, int K) {
  if (int(prm.joint_order.size()) != K)
    throw py::value_error("joint_order: expected " + std::to_string(K) + " entries, got " +
                          std::to_string(prm.joint_order.size()));
  if (prm.max_people < 1 || prm.nms_kernel < 1 || prm.nms_kernel % 2 == 0 || prm.tile < 1 ||
      prm.device_candidates < 1)
    throw py::value_error("invalid decode parameters");
  if (prm.use_udp && (prm.variant != Variant::MMPose || prm.dark || prm.heat_abs))
    throw py::value_error("use_udp: only with the mmpose variant, without dark and heat_abs");
  if (prm.blur_kernel < 1 || prm.blur_kernel > kMaxBlurTaps || prm.blur_kernel % 2 == 0)
    throw py::value_error("blur_kernel: expected an odd int in [1, " + std::to_string(kMaxBlurTaps) + "], got " +
                          std::to_string(prm.blur_kernel));
}

enum class Backend { CPU = 0, Emu = 1, Cuda = 2 };

// [(keypoints PxKx3, scores P, times)] from the outputs, or the error of the first image that failed.
py::list to_results(const std::vector<DecodeOutput>& outs, const std::vector<int>& status,
                    const std::vector<std::string>& errors, int K) {
  for (size_t i = 0; i < status.size(); ++i) {
    if (status[i] == -100) throw std::bad_alloc();
    if (status[i] == -101)
      throw std::runtime_error("hrdecode: decoding image " + std::to_string(i) + " failed: " + errors[i]);
    if (status[i] != 0)
      throw std::runtime_error("hrdecode: the assignment solver failed on image " + std::to_string(i) +
                               " (status " + std::to_string(status[i]) + ")");
  }
  py::list result;
  for (const DecodeOutput& o : outs) {
    py::array_t<float> kp({py::ssize_t(o.P), py::ssize_t(K), py::ssize_t(3)});
    py::array_t<float> sc({py::ssize_t(o.P)});
    if (o.P) {
      std::memcpy(kp.mutable_data(), o.keypoints.data(), sizeof(float) * o.keypoints.size());
      std::memcpy(sc.mutable_data(), o.scores.data(), sizeof(float) * o.scores.size());
    }
    result.append(py::make_tuple(kp, sc, times_dict(o.times)));
  }
  return result;
}

// A batch through the emu or CUDA backend (one launch sequence for all images). A solver status is
// attributed to its image; a CUDA error propagates as RuntimeError naming the call.
py::list decode_device_batch(Backend backend, const float* hp, const float* tp, int N, int K, int H, int W, int L,
                             const DecodeParams& prm, bool on_device, uintptr_t stream, int device) {
  std::vector<DecodeOutput> outs;
  std::vector<int> status(size_t(N), 0);
  std::vector<std::string> errors(static_cast<size_t>(N));
  int failed = 0, st = 0;
  {
    py::gil_scoped_release release;
    if (backend == Backend::Emu) {
      st = decode_batch_emu(prm, hp, tp, N, K, H, W, L, outs, &failed);
    } else {
#if defined(HRDECODE_WITH_CUDA)
      st = decode_batch_cuda(prm, hp, tp, N, K, H, W, L, on_device, stream, device, outs, &failed);
#else
      (void)on_device;
      (void)stream;
      (void)device;
      throw std::runtime_error("backend 'cuda': this build has no CUDA backend (built with HRDECODE_CUDA=OFF or without nvcc)");
#endif
    }
  }
  if (st != 0) status[size_t(failed)] = st;
  return to_results(outs, status, errors, K);
}

// heat: NxKxHxW, tags: NxKxHxWxL (float32, C-contiguous, host memory). Returns [(keypoints PxKx3, scores P, times)].
py::list decode_batch(const py::array& heat, const py::array& tags, const DecodeParams& prm, int threads,
                      int backend) {
  check_array<float>(heat, "heatmaps", 4);
  check_array<float>(tags, "tags", 5);
  const int N = int(heat.shape(0)), K = int(heat.shape(1)), H = int(heat.shape(2)), W = int(heat.shape(3));
  const int L = int(tags.shape(4));
  if (tags.shape(0) != N || tags.shape(1) != K || tags.shape(2) != H || tags.shape(3) != W)
    throw py::value_error("tags: expected shape (N, K, H, W, L) matching heatmaps " + shape_str(heat) + ", got " +
                          shape_str(tags));
  check_params(prm, K);
  if (backend < 0 || backend > 2) throw py::value_error("backend: expected 0 (cpu), 1 (emu) or 2 (cuda)");
  const float* hp = static_cast<const float*>(heat.data());
  const float* tp = static_cast<const float*>(tags.data());
  if (Backend(backend) != Backend::CPU) {
    DecodeParams local = prm;
    local.threads = threads;  // host stages: images in parallel
    return decode_device_batch(Backend(backend), hp, tp, N, K, H, W, L, local, false, 0, -1);
  }
  // One image: its joints and refine searches use the threads (only when there is enough work to pay for
  // the hand-off, measured: below ~17x128x128 one thread is faster); a batch: the images do.
  DecodeParams local = prm;
  local.threads = (N == 1 && int64_t(K) * H * W >= (int64_t(1) << 18)) ? threads : 1;
  const int64_t hs = int64_t(K) * H * W, ts = hs * L;
  std::vector<DecodeOutput> outs(N);
  std::vector<int> status(N, 0);
  std::vector<std::string> errors(N);
  {
    py::gil_scoped_release release;
    parallel_for(N, threads, [&](int i) {
      thread_local DecodeScratch scratch;
      try {
        status[i] = decode_image(local, hp + i * hs, tp + i * ts, K, H, W, L, scratch, outs[i]);
      } catch (const std::bad_alloc&) {
        status[i] = -100;
      } catch (const std::exception& e) {
        status[i] = -101;
        errors[i] = e.what();
      }
    });
  }
  return to_results(outs, status, errors, K);
}

// DLPack (dlpack.h) structures, read-only: enough to find a tensor's pointer, shape, strides, dtype and device.
struct DLDeviceV {
  int32_t device_type, device_id;
};
struct DLDataTypeV {
  uint8_t code, bits;
  uint16_t lanes;
};
struct DLTensorV {
  void* data;
  DLDeviceV device;
  int32_t ndim;
  DLDataTypeV dtype;
  int64_t* shape;
  int64_t* strides;
  uint64_t byte_offset;
};
struct DLManagedTensorV {  // legacy capsule "dltensor"
  DLTensorV dl_tensor;
  void* manager_ctx;
  void (*deleter)(DLManagedTensorV*);
};
struct DLManagedTensorVersionedV {  // DLPack >= 1.0 capsule "dltensor_versioned"
  uint32_t major, minor;
  void* manager_ctx;
  void (*deleter)(DLManagedTensorVersionedV*);
  uint64_t flags;
  DLTensorV dl_tensor;
};

// The tensor behind an unconsumed DLPack capsule. The capsule is not consumed: its producer frees it when the
// capsule is collected, and the caller keeps it (and the producer) alive while the pointer is used.
py::dict dlpack_info(const py::capsule& cap) {
  const char* name = cap.name();
  const DLTensorV* t = nullptr;
  if (name && std::strcmp(name, "dltensor") == 0) {
    t = &static_cast<DLManagedTensorV*>(cap.get_pointer())->dl_tensor;
  } else if (name && std::strcmp(name, "dltensor_versioned") == 0) {
    t = &static_cast<DLManagedTensorVersionedV*>(cap.get_pointer())->dl_tensor;
  } else {
    throw py::type_error(std::string("expected an unconsumed DLPack capsule ('dltensor'), got a capsule named '") +
                         (name ? name : "") + "'");
  }
  if (t->ndim < 0 || t->ndim > 32) throw py::value_error("DLPack tensor: implausible ndim " + std::to_string(t->ndim));
  py::list shape;
  for (int i = 0; i < t->ndim; ++i) shape.append(t->shape[i]);
  py::object strides = py::none();
  if (t->strides) {
    py::list st;
    for (int i = 0; i < t->ndim; ++i) st.append(t->strides[i]);
    strides = st;
  }
  py::dict d;
  d["ptr"] = reinterpret_cast<uintptr_t>(static_cast<const char*>(t->data) + t->byte_offset);
  d["shape"] = shape;
  d["strides"] = strides;  // in elements, None: C-contiguous
  d["code"] = int(t->dtype.code);
  d["bits"] = int(t->dtype.bits);
  d["lanes"] = int(t->dtype.lanes);
  d["device_type"] = int(t->device.device_type);
  d["device_id"] = int(t->device.device_id);
  return d;
}

template <typename SizeFn, typename SolveFn>
py::array_t<int32_t> solve(const py::array& cost, SizeFn size_fn, SolveFn solve_fn, const char* what) {
  check_array<double>(cost, "cost", 2);
  const int R = int(cost.shape(0)), C = int(cost.shape(1));
  const double* cp = static_cast<const double*>(cost.data());
  for (size_t i = 0; i < size_t(R) * size_t(C); ++i)
    if (!(cp[i] - cp[i] == 0.0))
      throw py::value_error(std::string(what) + ": cost: expected finite values, got " + std::to_string(cp[i]) +
                            " at flat index " + std::to_string(i));
  std::vector<std::max_align_t> ws((size_fn(R, C) + sizeof(std::max_align_t) - 1) / sizeof(std::max_align_t) + 1);
  py::array_t<int32_t> out({py::ssize_t(R)});
  int st;
  {
    py::gil_scoped_release release;
    st = solve_fn(static_cast<const double*>(cost.data()), R, C, out.mutable_data(), ws.data());
  }
  if (st != 0) throw py::value_error(std::string(what) + ": the cost matrix was refused (status " + std::to_string(st) +
                                     "; costs must be finite)");
  return out;
}

}  // namespace

// Top-down decoding (csrc/bindings/topdown_bindings.cpp).
namespace hrd {
void register_topdown(py::module_& m);
}  // namespace hrd

PYBIND11_MODULE(_C, m) {
  m.doc() = "hrdecode native core";
  hrd::register_topdown(m);

  py::class_<DecodeParams>(m, "DecodeParams")
      .def(py::init<>())
      .def_property("variant", [](const DecodeParams& p) { return int(p.variant); },
                    [](DecodeParams& p, int v) {
                      if (v < 0 || v > 2) throw py::value_error("variant: expected 0, 1 or 2");
                      p.variant = Variant(v);
                    })
      .def_property("solver", [](const DecodeParams& p) { return int(p.solver); },
                    [](DecodeParams& p, int v) {
                      if (v < 0 || v > 1) throw py::value_error("solver: expected 0 or 1");
                      p.solver = Solver(v);
                    })
      .def_readwrite("max_people", &DecodeParams::max_people)
      .def_readwrite("detection_threshold", &DecodeParams::detection_threshold)
      .def_readwrite("tag_threshold", &DecodeParams::tag_threshold)
      .def_readwrite("nms_kernel", &DecodeParams::nms_kernel)
      .def_readwrite("use_detection_val", &DecodeParams::use_detection_val)
      .def_readwrite("ignore_too_much", &DecodeParams::ignore_too_much)
      .def_readwrite("adjust", &DecodeParams::adjust)
      .def_readwrite("refine", &DecodeParams::refine)
      .def_readwrite("dist_reweight", &DecodeParams::dist_reweight)
      .def_readwrite("dark", &DecodeParams::dark)
      .def_readwrite("use_udp", &DecodeParams::use_udp)
      .def_readwrite("refine_own_tag", &DecodeParams::refine_own_tag)
      .def_readwrite("blur_kernel", &DecodeParams::blur_kernel)
      .def_readwrite("heat_abs", &DecodeParams::heat_abs)
      .def_readwrite("delta", &DecodeParams::delta)
      .def_readwrite("has_pose_threshold", &DecodeParams::has_pose_threshold)
      .def_readwrite("pose_threshold", &DecodeParams::pose_threshold)
      .def_readwrite("joint_order", &DecodeParams::joint_order)
      .def_readwrite("tile", &DecodeParams::tile)
      .def_readwrite("device_candidates", &DecodeParams::device_candidates);

  m.def("decode", &decode_batch, py::arg("heatmaps"), py::arg("tags"), py::arg("params"), py::arg("threads"),
        py::arg("backend") = 0,
        "Decode a batch of host arrays: heatmaps (N,K,H,W) float32, tags (N,K,H,W,L) float32, both "
        "C-contiguous; backend 0 cpu, 1 emu, 2 cuda.");

  m.def("decode_device",
        [](uintptr_t heat, uintptr_t tags, int N, int K, int H, int W, int L, const DecodeParams& prm, int threads,
           uintptr_t stream, int device) {
          if (N < 1 || K < 1 || H < 1 || W < 1 || L < 1)
            throw py::value_error("decode_device: expected positive N, K, H, W, L");
          if (heat == 0 || tags == 0) throw py::value_error("decode_device: null device pointer");
          check_params(prm, K);
          DecodeParams local = prm;
          local.threads = threads;
          return decode_device_batch(Backend::Cuda, reinterpret_cast<const float*>(heat),
                                     reinterpret_cast<const float*>(tags), N, K, H, W, L, local, true, stream,
                                     device);
        },
        py::arg("heatmaps_ptr"), py::arg("tags_ptr"), py::arg("N"), py::arg("K"), py::arg("H"), py::arg("W"),
        py::arg("L"), py::arg("params"), py::arg("threads"), py::arg("stream"), py::arg("device") = -1,
        "CUDA backend on device memory: float32 C-contiguous NxKxHxW heatmaps and NxKxHxWxL tags, work queued "
        "on `stream` (a cudaStream_t as an integer, 0 = default stream).");

  m.def("dlpack_info", &dlpack_info, py::arg("capsule"),
        "Pointer, shape, strides (elements), dtype and device of an unconsumed DLPack capsule.");

  m.def("emu_set_mode",
        [](const std::string& mode, unsigned seed, int workers) {
          emu::Mode m;
          if (mode == "serial") m = emu::Mode::Serial;
          else if (mode == "shuffle") m = emu::Mode::Shuffle;
          else if (mode == "threads") m = emu::Mode::Threads;
          else if (mode == "block") m = emu::Mode::Block;
          else throw py::value_error("mode: expected 'serial', 'shuffle', 'threads' or 'block', got '" + mode + "'");
          if (workers < 1) throw py::value_error("workers: expected >= 1, got " + std::to_string(workers));
          emu::set_emu_mode(m, seed, workers);
        },
        py::arg("mode"), py::arg("seed") = 0, py::arg("workers") = 4,
        "Schedule of the emulated CUDA launches (default: HREMU_MODE, HREMU_SEED, HREMU_WORKERS).");
  m.def("emu_mode", []() { return std::string(emu::emu_mode_name(emu::emu_mode())); });

  m.def("topk_candidates",
        [](const py::array& heat, int nms_kernel, double threshold, int M) {
          check_array<float>(heat, "heatmap", 2);
          if (nms_kernel < 1 || nms_kernel % 2 == 0 || M < 0) throw py::value_error("bad nms_kernel or M");
          std::vector<Peak> out(static_cast<size_t>(M));
          int n;
          {
            py::gil_scoped_release release;
            n = topk_candidates_hw(static_cast<const float*>(heat.data()), int(heat.shape(0)), int(heat.shape(1)),
                                   (nms_kernel - 1) / 2, threshold, M, out.data());
          }
          py::array_t<float> vals({py::ssize_t(n)});
          py::array_t<int32_t> idx({py::ssize_t(n)});
          for (int i = 0; i < n; ++i) {
            vals.mutable_data()[i] = out[i].val;
            idx.mutable_data()[i] = out[i].idx;
          }
          return py::make_tuple(vals, idx);
        },
        py::arg("heatmap"), py::arg("nms_kernel"), py::arg("threshold"), py::arg("M"),
        "Candidates of one HxW map, best first: (values, flat indices).");

  m.def("refine_search",
        [](int variant, const py::array& heat, const py::array& tags, const py::array& ptag, bool heat_abs, int tile,
           bool brute) -> py::object {
          check_array<float>(heat, "heatmap", 2);
          check_array<float>(tags, "tags", 3);
          const bool many = ptag.ndim() == 2;  // QxL: Q searches on one summary, in order
          check_array<float>(ptag, "person_tag", many ? 2 : 1);
          const int H = int(heat.shape(0)), W = int(heat.shape(1)), L = int(tags.shape(2));
          const int Q = many ? int(ptag.shape(0)) : 1;
          if (tags.shape(0) != H || tags.shape(1) != W || ptag.shape(many ? 1 : 0) != L || L < 1 || tile < 1 ||
              variant < 0 || variant > 2)
            throw py::value_error("refine_search: inconsistent arguments");
          const Variant v = Variant(variant);
          const float* hp = static_cast<const float*>(heat.data());
          const float* tp = static_cast<const float*>(tags.data());
          const float* pp = static_cast<const float*>(ptag.data());
          const TileGrid g = make_tile_grid(H, W, tile);
          std::vector<float> buf;
          TileSummary sum{};
          if (!brute) {
            buf.resize(tile_summary_words(g, L));
            sum = tile_summary_at(buf.data(), g, L);
            tile_summaries_hw(hp, H, W, L, g, heat_abs, sum);
          }
          py::list hits;
          for (int q = 0; q < Q; ++q) {
            const RefineHit hit = brute ? refine_search_brute_hw(v, hp, tp, H, W, L, pp + int64_t(q) * L, heat_abs)
                                        : refine_search_hw(v, hp, tp, H, W, L, pp + int64_t(q) * L, heat_abs, g, sum);
            hits.append(py::make_tuple(hit.idx, hit.heat));
          }
          return many ? py::object(hits) : py::object(hits[0]);
        },
        py::arg("variant"), py::arg("heatmap"), py::arg("tags"), py::arg("person_tag"), py::arg("heat_abs"),
        py::arg("tile"), py::arg("brute"),
        "Missing-joint search on one map: (flat index or -1, heat); person_tag QxL: Q searches on one summary, "
        "a list of those.");

  m.def("munkres114",
        [](const py::array& cost) { return solve(cost, munkres114_workspace_bytes, munkres114, "munkres114"); },
        py::arg("cost"), "munkres 1.1.4 assignment: row -> column (-1: none).");
  m.def("lsap", [](const py::array& cost) { return solve(cost, lsap_workspace_bytes, lsap, "lsap"); },
        py::arg("cost"), "scipy linear_sum_assignment: row -> column (-1: none).");

  m.def("default_num_threads", &default_num_threads);

  m.def("cuda_status", []() {
#if defined(HRDECODE_WITH_CUDA)
    const CudaStatus s = cuda_status();
#else
    CudaStatus s;
    s.error = -1;
    s.message = "this build has no CUDA backend (built with HRDECODE_CUDA=OFF or without nvcc)";
#endif
    py::dict d;
    d["usable"] = s.usable;
    d["device_count"] = s.device_count;
    d["error"] = s.error;
    d["driver_version"] = s.driver_version;
    d["runtime_version"] = s.runtime_version;
    d["message"] = s.message;
    return d;
  });

  py::dict info;
#if defined(HRDECODE_VERSION)
  info["version"] = HRDECODE_VERSION;
#endif
#if defined(HRDECODE_WITH_CUDA)
  info["cuda_compiled"] = true;
  info["cuda_architectures"] = HRDECODE_CUDA_ARCHS;
#else
  info["cuda_compiled"] = false;
  info["cuda_architectures"] = "";
#endif
  info["compiler"] = HRDECODE_CXX_COMPILER;
#if defined(__AVX2__)
  const char* simd = "AVX2";
#elif defined(__SSE2__)
  const char* simd = "SSE2";
#elif defined(__ARM_NEON)
  const char* simd = "NEON";
#else
  const char* simd = "none";
#endif
  info["simd"] = simd;  // what the whole module is compiled for
  // The code built for several instruction sets (the NMS row filter) runs this one in this process.
  info["simd_runtime"] = cpu_has_avx2() ? "AVX2" : simd;
  info["hardware_threads"] = int(std::thread::hardware_concurrency());
  m.attr("build") = info;
}
