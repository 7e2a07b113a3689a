// The emu backend: decode_device.cu compiled by the host compiler through cuda/cuda_compat.h.
#include "decode/decode_device.cu"
