#include "i2v/core/runtime.h"

#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fstream>

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <torch/version.h>
#include <thread>

#if __has_include(<torch/cuda.h>)
#include <torch/cuda.h>
#define I2V_HAVE_TORCH_CUDA_H 1
#endif

namespace i2v {

std::string version() {
  return I2V_VERSION;
}

std::string torch_version() {
  return std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) + "." +
         std::to_string(TORCH_VERSION_PATCH);
}

bool cuda_available() {
#ifdef I2V_HAVE_TORCH_CUDA_H
  return torch::cuda::is_available();
#else
  return false;
#endif
}

int available_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  unsigned hc = std::thread::hardware_concurrency();
  return hc > 0 ? static_cast<int>(hc) : 1;
}

int configure_threads(int threads) {
  int n = threads > 0 ? threads : available_cpus();
  at::set_num_threads(n);
  return at::get_num_threads();
}

std::string version_report() {
  std::string s = "i2v " + version() + " (libtorch " + torch_version() + ", CUDA " +
                  (cuda_available() ? "available" : "not available") + ", " +
                  std::to_string(at::get_num_threads()) + " threads)";
  return s;
}

size_t peak_rss_bytes() {
  rusage usage{};
  if (getrusage(RUSAGE_SELF, &usage) != 0) return 0;
  return static_cast<size_t>(usage.ru_maxrss) * 1024;  // Linux reports KiB
}

size_t current_rss_bytes() {
  std::ifstream statm("/proc/self/statm");
  size_t pages_total = 0, pages_resident = 0;
  if (!(statm >> pages_total >> pages_resident)) return 0;
  return pages_resident * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

}  // namespace i2v
