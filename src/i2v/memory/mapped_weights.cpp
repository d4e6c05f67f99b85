#include "i2v/memory/mapped_weights.h"

#include <malloc.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "i2v/memory/memory_stats.h"

namespace i2v::memory {

std::vector<std::pair<uintptr_t, uintptr_t>> safetensors_mappings() {
  std::vector<std::pair<uintptr_t, uintptr_t>> out;
  std::ifstream maps("/proc/self/maps");
  std::string line;
  const std::string suffix = ".safetensors";
  while (std::getline(maps, line)) {
    if (line.size() < suffix.size() ||
        line.compare(line.size() - suffix.size(), suffix.size(), suffix) != 0)
      continue;
    uintptr_t begin = 0, end = 0;
    char dash = 0;
    std::istringstream in(line);
    in >> std::hex >> begin >> dash >> end;
    if (dash == '-' && end > begin) out.emplace_back(begin, end);
  }
  std::sort(out.begin(), out.end());
  return out;
}

void release_mapped_pages(const at::Tensor& t,
                          const std::vector<std::pair<uintptr_t, uintptr_t>>& mappings) {
  if (!t.defined() || !t.device().is_cpu() || t.numel() == 0) return;
  int64_t last = 0;  // offset of the last element, in elements
  for (int64_t d = 0; d < t.dim(); ++d) last += (t.size(d) - 1) * t.stride(d);
  const uintptr_t begin = reinterpret_cast<uintptr_t>(t.data_ptr());
  const uintptr_t end = begin + static_cast<uintptr_t>((last + 1) * t.element_size());
  auto it = std::upper_bound(mappings.begin(), mappings.end(), std::make_pair(begin, UINTPTR_MAX));
  if (it == mappings.begin() || std::prev(it)->first > begin || end > std::prev(it)->second) return;
  const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const uintptr_t b = (begin + page - 1) / page * page, e = end / page * page;
  if (e > b) madvise(reinterpret_cast<void*>(b), e - b, MADV_DONTNEED);
}

std::function<void(const at::Tensor&)> mapped_page_releaser() {
  return [maps = safetensors_mappings()](const at::Tensor& t) { release_mapped_pages(t, maps); };
}

MappedWeights MappedWeights::of(const torch::nn::Module& module) {
  MappedWeights m;
  const auto maps = safetensors_mappings();
  const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  std::set<uintptr_t> seen;  // shared tensors count once
  auto visit = [&](const at::Tensor& t) {
    if (!t.defined() || !t.device().is_cpu() || t.numel() == 0) return;
    const uintptr_t begin = reinterpret_cast<uintptr_t>(t.data_ptr());
    const size_t bytes = t.numel() * t.element_size();
    if (!seen.insert(begin).second) return;
    const uintptr_t end = begin + bytes;
    auto it = std::upper_bound(maps.begin(), maps.end(), std::make_pair(begin, UINTPTR_MAX));
    const bool inside =
        it != maps.begin() && std::prev(it)->first <= begin && end <= std::prev(it)->second;
    if (!inside) {
      m.unmapped_bytes_ += static_cast<int64_t>(bytes);
      return;
    }
    m.mapped_bytes_ += static_cast<int64_t>(bytes);
    const uintptr_t b = (begin + page - 1) / page * page, e = end / page * page;
    if (e > b) m.ranges_.emplace_back(b, e - b);
  };
  for (const auto& p : module.parameters(true)) visit(p);
  for (const auto& b : module.buffers(true)) visit(b);
  return m;
}

void MappedWeights::release() const {
  for (const auto& [p, n] : ranges_) madvise(reinterpret_cast<void*>(p), n, MADV_DONTNEED);
}

void MappedWeights::prefetch() const {
  for (const auto& [p, n] : ranges_) madvise(reinterpret_cast<void*>(p), n, MADV_WILLNEED);
}

void trim_heap() {
  release_cached_blocks();
  malloc_trim(0);
}

}  // namespace i2v::memory
