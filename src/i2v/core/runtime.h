// Process-wide runtime facts and settings: version, libtorch build, threads.
#pragma once

#include <cstddef>
#include <string>

namespace i2v {

// i2v's own version, e.g. "0.1.0".
std::string version();

// One line: i2v version, libtorch version, CUDA availability, thread count.
std::string version_report();

// libtorch version as "MAJOR.MINOR.PATCH".
std::string torch_version();

bool cuda_available();

// Number of logical CPUs this process may run on (sched affinity aware; at least 1).
int available_cpus();

// Sets libtorch's intra-op (OpenMP) thread count; 0 means available_cpus(). OpenMP defaults to
// one thread on some machines, so every entry point calls this once. Returns the count set.
int configure_threads(int threads = 0);

// Peak resident set size of this process so far, in bytes (getrusage).
size_t peak_rss_bytes();

// Current resident set size in bytes (/proc/self/statm), 0 where unavailable.
size_t current_rss_bytes();

}  // namespace i2v
