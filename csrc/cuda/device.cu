#include <cuda_runtime.h>

#include <string>

#include "cuda/device.h"

namespace hrd {

CudaStatus cuda_status() {
  CudaStatus s;
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  (void)cudaGetLastError();  // the probe's error must not stick to later calls
  int drv = 0, rt = 0;
  cudaDriverGetVersion(&drv);
  (void)cudaGetLastError();
  cudaRuntimeGetVersion(&rt);
  (void)cudaGetLastError();
  s.error = int(e);
  s.driver_version = drv;
  s.runtime_version = rt;
  s.device_count = e == cudaSuccess ? n : 0;
  s.usable = e == cudaSuccess && n > 0;
  if (s.usable) {
    s.message = std::to_string(n) + " CUDA device(s) available";
  } else if (e == cudaErrorInsufficientDriver && drv == 0) {
    s.message = "no CUDA driver found (cudaErrorInsufficientDriver, driver version 0, runtime " +
                std::to_string(rt) + ")";
  } else if (e == cudaErrorInsufficientDriver) {
    s.message = "the CUDA driver (" + std::to_string(drv) + ") is older than the runtime this build needs (" +
                std::to_string(rt) + ")";
  } else if (e == cudaErrorNoDevice || (e == cudaSuccess && n == 0)) {
    s.message = "a CUDA driver is present but no CUDA device was found";
  } else {
    s.message = std::string(cudaGetErrorName(e)) + ": " + cudaGetErrorString(e);
  }
  return s;
}

}  // namespace hrd
