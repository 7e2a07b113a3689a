// The emu backend of top-down decoding: dark.cu compiled by the host compiler through cuda/cuda_compat.h.
#include "dark/dark.cu"
