#include "i2v/memory/memory_stats.h"

#include "i2v/memory/block_reuse.h"
#include "i2v/memory/huge_page_recycler.h"

#include <sys/resource.h>
#include <unistd.h>

#include <c10/core/Allocator.h>
#include <torch/version.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>

#if __has_include(<c10/cuda/CUDACachingAllocator.h>) && defined(I2V_WITH_CUDA)
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#define I2V_HAVE_CUDA_STATS 1
#if __has_include(<cuda_runtime_api.h>)
#include <cuda_runtime_api.h>
#define I2V_HAVE_CUDA_MEM_INFO 1
#endif
#endif

namespace i2v::memory {
namespace {

std::atomic<int64_t> g_current{0}, g_peak{0}, g_count{0}, g_budget{0};

void raise_peak(std::atomic<int64_t>& peak, int64_t value) {
  int64_t p = peak.load(std::memory_order_relaxed);
  while (value > p && !peak.compare_exchange_weak(p, value, std::memory_order_relaxed)) {
  }
}

// Each allocation carries a 64-byte header holding its size and, for blocks from the reuse cache,
// the block's size (0 otherwise), so the data pointer is its own context
// (Allocator::raw_allocate, used by oneDNN, requires that) and alignment stays 64.
constexpr size_t kHeader = 64;

c10::Allocator* g_base = nullptr;
BlockReuse* g_reuse = nullptr;

// Blocks of at least this size are mapped directly, 2 MiB aligned, and marked for transparent
// huge pages (the kernel's default here is "madvise"): one fault per 2 MiB instead of 512, and far
// fewer TLB misses in the GEMMs and convolutions that stream through them. The block cache's
// evictions hand their pages to the recycler, which moves them into the next new block.
constexpr size_t kHugePage = HugePageRecycler::kPage;
constexpr size_t kHugeBlockMin = 2 * kHugePage;
HugePageRecycler* g_recycler = nullptr;  // made with g_reuse, the only caller of the base below

size_t huge_length(size_t n) {
  return (n + kHugePage - 1) / kHugePage * kHugePage;
}

bool huge_pages_enabled() {
  static const bool on = [] {
    const char* v = std::getenv("I2V_HUGE_PAGES");
    return !(v && std::string(v) == "0");
  }();
  return on;
}

bool huge_block(size_t n) {
  return n >= kHugeBlockMin && huge_pages_enabled();
}

void* base_allocate_or_null(size_t n) {
  if (huge_block(n)) return g_recycler->map(huge_length(n));
  try {
    return g_base->raw_allocate(n);
  } catch (const std::exception&) {
    return nullptr;
  }
}

void base_free(void* p, size_t n) {
  if (huge_block(n)) {
    g_recycler->recycle(p, huge_length(n));
    return;
  }
  g_base->raw_deallocate(p);
}

void settle_freed_pages(size_t keep_bytes) {
  g_recycler->release(keep_bytes);
}

class CountingAllocator final : public c10::Allocator {
 public:
  explicit CountingAllocator(c10::Allocator* base) : base_(base) {}

  c10::DataPtr allocate(size_t n) const override {
    const int64_t bytes = static_cast<int64_t>(n);
    const int64_t budget = g_budget.load(std::memory_order_relaxed);
    if (budget > 0 && g_current.load(std::memory_order_relaxed) + bytes > budget) {
      throw BudgetExceededError(bytes, g_current.load(), budget);
    }
    const size_t total = n + kHeader;
    size_t block = 0;
    void* raw = g_reuse && total >= kReusableBlockMin ? g_reuse->obtain(total, &block) : nullptr;
    if (!raw) {
      block = 0;
      raw = base_->raw_allocate(total);  // throws libtorch's out-of-memory error
    }
    static_cast<size_t*>(raw)[0] = n;
    static_cast<size_t*>(raw)[1] = block;
    void* data = static_cast<char*>(raw) + kHeader;
    const int64_t now = g_current.fetch_add(bytes, std::memory_order_relaxed) + bytes;
    raise_peak(g_peak, now);
    g_count.fetch_add(1, std::memory_order_relaxed);
    return {data, data, &release, c10::Device(c10::DeviceType::CPU)};
  }
  c10::DeleterFnPtr raw_deleter() const override { return &release; }
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 3)
  void copy_data(void* dest, const void* src, std::size_t count) const override {
    std::memcpy(dest, src, count);
  }
#endif

  static void release(void* data) {
    if (!data) return;
    void* raw = static_cast<char*>(data) - kHeader;
    const size_t* header = static_cast<size_t*>(raw);
    g_current.fetch_sub(static_cast<int64_t>(header[0]), std::memory_order_relaxed);
    if (header[1] != 0) {
      g_reuse->give_back(raw, header[1]);
    } else {
      instance_free_(raw);
    }
  }

  static c10::DeleterFnPtr instance_free_;

 private:
  c10::Allocator* base_;
};
c10::DeleterFnPtr CountingAllocator::instance_free_ = nullptr;

std::mutex g_install_mu;
CountingAllocator* g_counting = nullptr;
constexpr uint8_t kPriority = 255;  // c10::SetAllocator replaces allocators of lower or equal one

// RSS sampler.
std::atomic<int64_t> g_rss_peak{0};
std::once_flag g_sampler_once;

void start_sampler() {
  std::call_once(g_sampler_once, [] {
    g_rss_peak = process_rss_bytes();
    std::thread([] {
      for (;;) {
        raise_peak(g_rss_peak, process_rss_bytes());
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    }).detach();
  });
}

}  // namespace

BudgetExceededError::BudgetExceededError(int64_t req, int64_t use, int64_t b)
    : Error("memory budget exceeded: an allocation of " + format_bytes(req) + " with " +
            format_bytes(use) + " in use would pass the enforced budget of " + format_bytes(b)),
      requested(req),
      in_use(use),
      budget(b) {}

bool install_counting_allocator() {
  std::lock_guard<std::mutex> lock(g_install_mu);
  if (g_counting) return true;
  c10::Allocator* base = c10::GetAllocator(c10::DeviceType::CPU);
  if (!base || !base->raw_deleter()) return false;
  CountingAllocator::instance_free_ = base->raw_deleter();
  g_base = base;
  // I2V_BLOCK_REUSE=0 turns the reuse of freed blocks off (to measure what it saves).
  const char* reuse = std::getenv("I2V_BLOCK_REUSE");
  if (!reuse || std::string(reuse) != "0") {
    // I2V_PAGE_RECYCLING=0: evicted blocks are unmapped and new ones faulted in afresh.
    const char* recycling = std::getenv("I2V_PAGE_RECYCLING");
    g_recycler = new HugePageRecycler(/*keep_pages=*/!recycling || std::string(recycling) != "0");
    g_reuse = new BlockReuse(&base_allocate_or_null, &base_free, &settle_freed_pages);
  }
  g_counting = new CountingAllocator(base);  // lives for the process: tensors may outlive main
  c10::SetAllocator(c10::DeviceType::CPU, g_counting, kPriority);
  start_sampler();
  return true;
}

bool counting_allocator_installed() {
  std::lock_guard<std::mutex> lock(g_install_mu);
  return g_counting != nullptr;
}

void release_cached_blocks() {
  if (g_reuse) g_reuse->release_all();
}

HugePageRecyclerStats recycled_page_stats() {
  return g_recycler ? g_recycler->stats() : HugePageRecyclerStats{};
}

BlockReuseStats cached_block_stats() {
  return g_reuse ? g_reuse->stats() : BlockReuseStats{};
}

int64_t cpu_allocated_bytes() {
  return g_current.load();
}
int64_t cpu_peak_bytes() {
  return g_peak.load();
}
void reset_cpu_peak() {
  g_peak = g_current.load();
}
int64_t cpu_allocation_count() {
  return g_count.load();
}
void set_cpu_budget(int64_t bytes) {
  g_budget = std::max<int64_t>(0, bytes);
}
int64_t cpu_budget() {
  return g_budget.load();
}

int64_t process_rss_bytes() {
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) return 0;
  long long total = 0, resident = 0;
  int n = std::fscanf(f, "%lld %lld", &total, &resident);
  std::fclose(f);
  if (n != 2) return 0;
  return static_cast<int64_t>(resident) * sysconf(_SC_PAGESIZE);
}

int64_t process_peak_rss_bytes() {
  rusage usage{};
  if (getrusage(RUSAGE_SELF, &usage) != 0) return 0;
  return static_cast<int64_t>(usage.ru_maxrss) * 1024;
}

int64_t sampled_peak_rss_bytes() {
  start_sampler();
  raise_peak(g_rss_peak, process_rss_bytes());
  return g_rss_peak.load();
}

void reset_sampled_peak_rss() {
  start_sampler();
  g_rss_peak = process_rss_bytes();
}

CudaStats cuda_stats() {
  CudaStats s;
#ifdef I2V_HAVE_CUDA_STATS
  if (c10::cuda::device_count() > 0) {
    using namespace c10::cuda::CUDACachingAllocator;
    const auto d = c10::cuda::current_device();
    auto st = getDeviceStats(d);
    const auto agg = static_cast<size_t>(StatType::AGGREGATE);
    s.available = true;
    s.allocated = st.allocated_bytes[agg].current;
    s.peak_allocated = st.allocated_bytes[agg].peak;
    s.reserved = st.reserved_bytes[agg].current;
    s.peak_reserved = st.reserved_bytes[agg].peak;
  }
#endif
  return s;
}

int64_t cuda_free_bytes() {
#ifdef I2V_HAVE_CUDA_MEM_INFO
  if (c10::cuda::device_count() > 0) {
    size_t free = 0, total = 0;
    if (cudaMemGetInfo(&free, &total) == cudaSuccess) {
      // Blocks the caching allocator holds but does not use are free to this process too.
      const auto st = c10::cuda::CUDACachingAllocator::getDeviceStats(c10::cuda::current_device());
      const auto agg = static_cast<size_t>(c10::cuda::CUDACachingAllocator::StatType::AGGREGATE);
      return static_cast<int64_t>(free) + st.reserved_bytes[agg].current -
             st.allocated_bytes[agg].current;
    }
  }
#endif
  return 0;
}

void reset_cuda_peak() {
#ifdef I2V_HAVE_CUDA_STATS
  if (c10::cuda::device_count() > 0)
    c10::cuda::CUDACachingAllocator::resetPeakStats(c10::cuda::current_device());
#endif
}

MemorySnapshot snapshot(bool cuda_device) {
  MemorySnapshot s;
  s.rss = process_rss_bytes();
  s.rss_peak_sampled = sampled_peak_rss_bytes();
  s.rss_peak_process = process_peak_rss_bytes();
  CudaStats c = cuda_device ? cuda_stats() : CudaStats{};
  if (c.available) {
    s.cuda = true;
    s.allocated = c.allocated;
    s.reserved = c.reserved;
    s.peak = c.peak_allocated;
  } else {
    s.allocated = cpu_allocated_bytes();
    s.reserved = s.rss;
    s.peak = cpu_peak_bytes();
  }
  return s;
}

std::string format_bytes(int64_t b) {
  char buf[64];
  const double v = static_cast<double>(b);
  if (std::llabs(b) >= (int64_t{1} << 30))
    std::snprintf(buf, sizeof buf, "%.2f GiB", v / (1 << 30));
  else if (std::llabs(b) >= (int64_t{1} << 20))
    std::snprintf(buf, sizeof buf, "%.1f MiB", v / (1 << 20));
  else if (std::llabs(b) >= 1024)
    std::snprintf(buf, sizeof buf, "%.1f KiB", v / 1024);
  else
    std::snprintf(buf, sizeof buf, "%lld B", static_cast<long long>(b));
  return buf;
}

int64_t parse_bytes(const std::string& text) {
  const std::string bad = "'" + text +
                          "' is not a memory size (use e.g. 6GiB, 6G, 512MiB, 512M or a number of "
                          "bytes)";
  size_t pos = 0;
  double value = 0;
  try {
    value = std::stod(text, &pos);
  } catch (const std::exception&) {
    throw ConfigError(bad);
  }
  std::string unit = text.substr(pos);
  unit.erase(std::remove(unit.begin(), unit.end(), ' '), unit.end());
  for (auto& ch : unit) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  double scale = 0;
  if (unit.empty() || unit == "B")
    scale = 1;
  else if (unit == "K" || unit == "KB" || unit == "KIB")
    scale = 1024.0;
  else if (unit == "M" || unit == "MB" || unit == "MIB")
    scale = 1024.0 * 1024;
  else if (unit == "G" || unit == "GB" || unit == "GIB")
    scale = 1024.0 * 1024 * 1024;
  else if (unit == "T" || unit == "TB" || unit == "TIB")
    scale = 1024.0 * 1024 * 1024 * 1024;
  if (scale == 0 || !(value > 0) || !std::isfinite(value)) throw ConfigError(bad);
  return static_cast<int64_t>(std::llround(value * scale));
}

}  // namespace i2v::memory
