// Whether a CUDA device answers. Compiled only with the CUDA backend; never called at import time.
#pragma once
#include <string>

namespace hrd {

struct CudaStatus {
  bool usable = false;
  int device_count = 0;
  int error = 0;           // cudaError_t of cudaGetDeviceCount
  int driver_version = 0;  // 0: no driver
  int runtime_version = 0;
  std::string message;
};

CudaStatus cuda_status();

}  // namespace hrd
