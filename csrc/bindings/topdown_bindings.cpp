// Python binding of top-down decoding (hrdecode.decode_topdown calls it; argument checks live in
// python/hrdecode/topdown.py, these are the last line of defence). Registered from module.cpp.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "dark/dark.h"
#include "dark/dark_rule.h"

namespace py = pybind11;

namespace hrd {
namespace {

template <typename T>
void check_c_array(const py::array& a, const char* name, int ndim) {
  if (!py::isinstance<py::array_t<T>>(a) || !(a.flags() & py::array::c_style))
    throw py::type_error(std::string(name) + ": expected a C-contiguous " +
                         py::str(py::dtype::of<T>()).cast<std::string>() + " array");
  if (a.ndim() != ndim)
    throw py::value_error(std::string(name) + ": expected " + std::to_string(ndim) + " dimensions");
}

// heat (N,K,H,W) float32; centers (N,2) float64; src_w (N,) float64 = scale[:,0] * 200 in the caller's
// precision. Returns (keypoints (N,K,2) float32, scores (N,K) float32).
py::tuple topdown(const py::array& heat, const py::array& centers, const py::array& src_w, int method,
                  int blur_kernel, int threads, int backend) {
  check_c_array<float>(heat, "heatmaps", 4);
  check_c_array<double>(centers, "centers", 2);
  check_c_array<double>(src_w, "src_w", 1);
  const py::ssize_t N = heat.shape(0), K = heat.shape(1), H = heat.shape(2), W = heat.shape(3);
  if (centers.shape(0) != N || centers.shape(1) != 2 || src_w.shape(0) != N)
    throw py::value_error("centers/src_w: expected (N, 2) and (N,) for N = " + std::to_string(N));
  if (method < 0 || method > 2) throw py::value_error("method: expected 0 (argmax), 1 (quarter) or 2 (dark)");
  if (blur_kernel < 1 || blur_kernel % 2 == 0)
    throw py::value_error("blur_kernel: expected a positive odd int, got " + std::to_string(blur_kernel));
  if (backend < 0 || backend > 2) throw py::value_error("backend: expected 0 (cpu), 1 (emu) or 2 (cuda)");
  if (N > (py::ssize_t(1) << 30) || K > (py::ssize_t(1) << 30) || H < 1 || W < 1 || H * W >= (py::ssize_t(1) << 24))
    throw py::value_error("heatmaps: expected 1 <= h*w < 2**24 pixels per map");
  TopdownParams prm;
  prm.method = method;
  prm.blur_kernel = blur_kernel;
  prm.threads = threads < 1 ? 1 : threads;
  py::array_t<float> kp({N, K, py::ssize_t(2)});
  py::array_t<float> sc({N, K});
  const float* hp = static_cast<const float*>(heat.data());
  const double* cp = static_cast<const double*>(centers.data());
  const double* wp = static_cast<const double*>(src_w.data());
  float* kpp = kp.mutable_data();
  float* scp = sc.mutable_data();
  {
    py::gil_scoped_release release;
    std::vector<double> affine(size_t(N) * 6);
    for (py::ssize_t n = 0; n < N; ++n)
      hrnet_inverse_affine(cp[2 * n], cp[2 * n + 1], wp[n], int(W), int(H), &affine[size_t(n) * 6]);
    if (N * K > 0) {
      if (backend == 0) {
        topdown_cpu(prm, hp, int(N), int(K), int(H), int(W), affine.data(), kpp, scp);
      } else if (backend == 1) {
        topdown_batch_emu(prm, hp, int(N), int(K), int(H), int(W), affine.data(), kpp, scp);
      } else {
#if defined(HRDECODE_WITH_CUDA)
        topdown_batch_cuda(prm, hp, int(N), int(K), int(H), int(W), affine.data(), kpp, scp, 0);
#else
        throw std::runtime_error(
            "backend 'cuda': this build has no CUDA backend (built with HRDECODE_CUDA=OFF or without nvcc)");
#endif
      }
    }
  }
  return py::make_tuple(kp, sc);
}

// The Gaussian coefficients the blur uses (for the NumPy twin's tests).
py::array_t<double> gaussian_kernel(int k) {
  if (k < 1 || k % 2 == 0) throw py::value_error("blur_kernel: expected a positive odd int, got " + std::to_string(k));
  py::array_t<double> out({py::ssize_t(k)});
  gaussian_kernel_cv(k, out.mutable_data());
  return out;
}

}  // namespace

void register_topdown(py::module_& m) {
  m.def("decode_topdown", &topdown, py::arg("heatmaps"), py::arg("centers"), py::arg("src_w"), py::arg("method"),
        py::arg("blur_kernel"), py::arg("threads"), py::arg("backend") = 0,
        "Top-down decoding of a batch of person crops: heatmaps (N,K,H,W) float32, centers (N,2) float64, "
        "src_w (N,) float64 (scale[:,0]*200); method 0 argmax, 1 quarter, 2 dark; backend 0 cpu, 1 emu, "
        "2 cuda. Returns (keypoints (N,K,2), scores (N,K)).");
  m.def("topdown_gaussian_kernel", &gaussian_kernel, py::arg("k"),
        "The k-tap Gaussian coefficients of the DARK blur (cv2.getGaussianKernel(k, 0)).");
}

}  // namespace hrd
