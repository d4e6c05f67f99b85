// The one oneDNN CPU engine that i2v's direct oneDNN kernels (products, convolutions, attention)
// share. Internal to src/i2v/kernels; only in builds with I2V_WITH_ONEDNN.
#pragma once

#ifdef I2V_WITH_ONEDNN
#include <dnnl.hpp>

namespace i2v::kernels {

inline dnnl::engine& onednn_cpu_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

}  // namespace i2v::kernels
#endif
