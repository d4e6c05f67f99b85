// The pages of a module's weights that alias memory-mapped weight files (safetensors loaded
// zero-copy). Releasing them (madvise MADV_DONTNEED) drops them from the process's resident set
// at once; the next read faults them back in from the page cache (or the file), with the same
// bytes: the mappings are private and weights are never written. This is how encoders are
// released after use and how CPU streaming keeps only the UNet block in use resident.
#pragma once

#include <torch/nn/module.h>

#include <cstdint>
#include <functional>
#include <utility>
#include <vector>

namespace i2v::memory {

class MappedWeights {
 public:
  MappedWeights() = default;
  // The module's parameters and buffers that lie inside a file mapping ("*.safetensors" in
  // /proc/self/maps), each rounded inward to whole pages.
  static MappedWeights of(const torch::nn::Module& module);

  int64_t mapped_bytes() const { return mapped_bytes_; }      // tensors inside a mapping
  int64_t unmapped_bytes() const { return unmapped_bytes_; }  // tensors in ordinary memory
  bool all_mapped() const { return unmapped_bytes_ == 0; }

  void release() const;   // MADV_DONTNEED on every range
  void prefetch() const;  // MADV_WILLNEED (asynchronous read-ahead into the page cache)

 private:
  std::vector<std::pair<uintptr_t, size_t>> ranges_;
  int64_t mapped_bytes_ = 0, unmapped_bytes_ = 0;
};

// Address ranges of this process's mappings of files whose name ends in ".safetensors".
std::vector<std::pair<uintptr_t, uintptr_t>> safetensors_mappings();

// Releases (MADV_DONTNEED) the pages wholly inside the memory `t` spans (its sizes and strides)
// when that memory lies inside one of `mappings` (safetensors_mappings()); nothing otherwise.
// Same contract as MappedWeights::release: the next read faults the same bytes back in.
void release_mapped_pages(const at::Tensor& t,
                          const std::vector<std::pair<uintptr_t, uintptr_t>>& mappings);
// release_mapped_pages over the mappings as they are now: what a kernels::PackedWeightScope's
// owner passes as `on_packed`, so that each packed copy takes the place of its mapped pages.
std::function<void(const at::Tensor&)> mapped_page_releaser();

// Returns freed memory to the system (the kept reusable blocks, then glibc malloc_trim) so RSS
// reflects what is in use.
void trim_heap();

}  // namespace i2v::memory
