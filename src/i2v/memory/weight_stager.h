// WeightStager: runs a module whose weights live at "home" — host memory, in their stored
// precision (views of the mapped safetensors files, or pinned copies of them) — with each
// parameter and buffer swapped for a staged copy in the compute dtype on the compute device while
// it runs, and swapped back afterwards. This one mechanism gives:
//   - per-block casting on CPU (bf16 files, fp32 compute: only the block in use is converted);
//   - a model moved onto the GPU only while its stage runs (Residency::OnDemand);
//   - block-by-block streaming onto the GPU, the next block's copy started on a side stream
//     while the current one computes (Residency::StreamBlocks with prefetch).
// 8-bit weights (quant/quantized_weight.h) stay 8-bit (copied as such to a device): the layers
// dequantize them where they are used (quant::weight_in), one layer at a time.
// Exact: a staged tensor is the home tensor converted by Tensor::to, as a whole-model conversion
// would do it. Tensors already in
// the compute dtype on the compute device are left alone, so a CPU run whose files hold the compute
// dtype costs nothing here.
#pragma once

#include <ATen/ATen.h>
#include <c10/core/Event.h>
#include <torch/nn/module.h>

#include <map>
#include <memory>
#include <optional>
#include <vector>

namespace i2v::memory {

class WeightStager {
 public:
  struct Options {
    at::Device device = at::kCPU;       // where the staged copies go
    at::ScalarType dtype = at::kFloat;  // compute dtype of floating-point tensors
    bool prefetch = false;              // GPU: prefetch() copies on a side stream
  };
  WeightStager() = default;
  explicit WeightStager(Options options) : options_(options) {}
  const Options& options() const { return options_; }

  // Whether staging `m` would copy anything (a tensor in another dtype or on another device).
  bool needs_staging(const torch::nn::Module& m) const;
  // Swaps in the staged copies (waiting for a prefetch of `m` when one is under way); returns
  // whether `m` now runs on staged copies. Idempotent: a staged module stays staged.
  bool stage(torch::nn::Module& m);
  // Swaps the home tensors back; the staged copies are freed once the compute stream is done
  // with them. A module that is not staged is left alone.
  void unstage(torch::nn::Module& m);
  // Starts staging `m` without swapping: on a GPU with Options::prefetch, copies on a side
  // stream; otherwise nothing (stage() then does the work).
  void prefetch(torch::nn::Module& m);
  // Drops pending prefetches (waiting for their copies to finish first).
  void drop_prefetches();
  // Converts `m`'s tensors to the compute dtype and device for good (no home kept): for the
  // small parts of a model that stay staged.
  // `recurse` false: only the tensors registered on `m` itself.
  void convert_in_place(torch::nn::Module& m, bool recurse = true) const;
  bool is_staged(const torch::nn::Module& m) const { return staged_.count(&m) > 0; }
  // GPU: moves the home tensors of `m` into pinned (page-locked) host memory so that copies to
  // the device can be asynchronous. Costs host memory (the files' pages are then not shared).
  static void pin_home(torch::nn::Module& m);

  // Bytes of staged copies alive now (staged and prefetched).
  int64_t staged_bytes() const;

 private:
  struct Slot {
    at::Tensor handle;  // the module's parameter/buffer (its data is swapped)
    at::Tensor home;    // the home tensor
  };
  struct Prefetched {
    std::vector<at::Tensor> copies;  // in slot order
    std::shared_ptr<c10::Event> ready;
  };
  static std::vector<at::Tensor> tensors_of(torch::nn::Module& m, bool recurse = true);
  at::Tensor staged_copy(const at::Tensor& home, bool non_blocking) const;
  bool needs(const at::Tensor& t) const;

  Options options_;
  std::map<const torch::nn::Module*, std::vector<Slot>> staged_;
  std::map<const torch::nn::Module*, Prefetched> prefetched_;
  std::optional<c10::Stream> side_stream_;
};

// The staging hooks a UNet forward calls around its top-level blocks: stage before a block (and
// prefetch the next in `order`), unstage after it.
struct BlockSchedule {
  std::vector<torch::nn::Module*> order;                            // the blocks in forward order
  torch::nn::Module* next_after(const torch::nn::Module* m) const;  // wraps around
};

}  // namespace i2v::memory
