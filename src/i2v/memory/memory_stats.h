// Memory accounting: what the process holds now and at its peak.
//
//  - A counting allocator wraps libtorch's CPU allocator (c10::SetAllocator): every CPU tensor
//    allocation is counted (current, peak; the peak is resettable, so a stage can measure its own
//    peak), and an optional budget makes an allocation that would exceed it throw
//    BudgetExceededError (the fallback ladder's trigger on CPU).
//  - Process RSS (current, and a sampled peak that can be reset per stage without touching the
//    kernel's high-water mark, so /usr/bin/time still reports the true process peak).
//  - On CUDA builds, the caching allocator's allocated / reserved / peak bytes.
//
// C++ API for front ends (CLI, server):
//   memory::install_counting_allocator();          // once, early in main (idempotent)
//   memory::MemorySnapshot s = memory::snapshot(); // allocated / reserved / peak / rss
//   memory::MemoryLog log(path); log.begin_stage("unet"); ...; log.end_stage("unet");  // peaks
#pragma once

#include <cstdint>
#include <string>

#include "i2v/error.h"
#include "i2v/memory/block_reuse.h"
#include "i2v/memory/huge_page_recycler.h"

namespace i2v::memory {

// The CPU counting allocator refused an allocation that would exceed the enforced budget.
class BudgetExceededError : public Error {
 public:
  BudgetExceededError(int64_t requested, int64_t in_use, int64_t budget);
  int64_t requested, in_use, budget;
};

// Installs the counting allocator in front of the current CPU allocator. Idempotent; returns
// false when it cannot be installed (the current allocator offers no raw deleter).
bool install_counting_allocator();
bool counting_allocator_installed();

// Freed blocks of 1 MiB and more are kept for reuse (block_reuse.h: no page faults for the next
// activation of that size; never above the in-use peak). This frees them all and restarts that
// peak from what is in use now. Called at stage boundaries, after a job and before OOM retries.
void release_cached_blocks();
// Kept / in-use bytes and hit counts of that cache (zeros before install).
BlockReuseStats cached_block_stats();
// Pages of evicted blocks moved into new ones (huge_page_recycler.h; zeros before install).
HugePageRecyclerStats recycled_page_stats();

// Bytes of CPU tensor storage allocated through the counting allocator.
int64_t cpu_allocated_bytes();
int64_t cpu_peak_bytes();        // since the last reset_cpu_peak()
void reset_cpu_peak();           // peak := current
int64_t cpu_allocation_count();  // number of allocations so far (tests)

// Enforced budget on counted CPU bytes; <= 0 disables. An allocation that would take the count
// above it throws BudgetExceededError (and nothing is allocated).
void set_cpu_budget(int64_t bytes);
int64_t cpu_budget();

// Process resident set size.
int64_t process_rss_bytes();       // now (/proc/self/statm)
int64_t process_peak_rss_bytes();  // the kernel's high-water mark (getrusage), never reset

// A background sampler of RSS (every few milliseconds) whose maximum can be reset, for per-stage
// RSS peaks. Started on first use.
int64_t sampled_peak_rss_bytes();
void reset_sampled_peak_rss();

// CUDA caching allocator statistics of the current device (all zero without CUDA).
struct CudaStats {
  bool available = false;
  int64_t allocated = 0, reserved = 0, peak_allocated = 0, peak_reserved = 0;
};
CudaStats cuda_stats();
void reset_cuda_peak();
// Free memory on the current CUDA device for this process (cudaMemGetInfo plus what the caching
// allocator holds unused); 0 without CUDA.
int64_t cuda_free_bytes();

struct MemorySnapshot {
  int64_t allocated = 0;  // counted CPU tensor bytes (or CUDA allocated on a CUDA device)
  int64_t reserved = 0;   // process RSS on CPU (CUDA reserved on a CUDA device)
  int64_t peak = 0;       // counted peak since the last reset (CUDA peak allocated)
  int64_t rss = 0, rss_peak_sampled = 0, rss_peak_process = 0;
  bool cuda = false;
};
MemorySnapshot snapshot(bool cuda_device = false);

// "1.23 GiB", "512.0 MiB", "12.0 KiB", "100 B".
std::string format_bytes(int64_t bytes);
// "6GiB", "6 GiB", "6G", "512MiB", "512M", "1.5GiB", "1000000" (bytes). ConfigError otherwise.
int64_t parse_bytes(const std::string& text);

}  // namespace i2v::memory
