// A model's weights as a name -> tensor source spanning one or several safetensors files, and the
// strict loader that copies them into a torch::nn::Module.
#pragma once

#include <torch/nn/module.h>

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "i2v/io/safetensors.h"
#include "i2v/quant/weight_format.h"

namespace i2v::weights {

// Tensors by name across the files of one component (a single file or a sharded set).
class StateDict {
 public:
  StateDict() = default;
  // Opens the given files (all memory-mapped). Duplicate names across files are a FormatError.
  static StateDict open(const std::vector<std::filesystem::path>& files);

  std::vector<std::string> names() const;  // sorted
  bool contains(const std::string& name) const;
  const io::TensorInfo& info(const std::string& name) const;  // throws if absent
  // The tensor, converted to `dtype` when given (zero-copy when not needed).
  at::Tensor tensor(const std::string& name,
                    std::optional<at::ScalarType> dtype = std::nullopt) const;
  // The stored bytes (zero-copy), fp8 as raw bits in uint8 (io::SafetensorsFile::stored).
  at::Tensor stored(const std::string& name) const;
  // Drops `name`'s file pages from the resident set (io::SafetensorsFile::release_pages).
  void release_pages(const std::string& name) const;
  const std::vector<std::filesystem::path>& files() const { return files_; }
  // The file holding `name` (throws FormatError if absent).
  const std::filesystem::path& file_of(const std::string& name) const;
  size_t size() const { return where_.size(); }
  // The one dtype every floating-point tensor is stored in; nullopt when they mix precisions
  // (or there is none). 8-bit weights and their scales (quant/weight_format.h) do not count.
  std::optional<at::ScalarType> float_dtype() const;
  // The 8-bit format of the quantized weights among the tensors (the first one's, sorted by
  // name), or nullopt when there are none.
  std::optional<quant::WeightFormat> quantized_format() const;
  // Whether `name` is the scale of an 8-bit weight ("<weight>_scale" beside an 8-bit "<weight>").
  bool is_scale_of_8bit(const std::string& name) const;

 private:
  std::vector<std::filesystem::path> files_;
  std::vector<std::shared_ptr<const io::SafetensorsFile>> open_files_;
  std::map<std::string, size_t> where_;  // name -> index into open_files_
};

struct LoadOptions {
  // Convert every tensor to this dtype (e.g. an fp16 file into fp32 parameters); when unset, each
  // parameter keeps the dtype of the module's parameter.
  std::optional<at::ScalarType> dtype;
  // Share the mapped memory instead of copying where possible (parameters then alias the file
  // mapping, copy-on-write). Only when dtype and layout match. The mapping is per open file, so
  // two modules loaded zero-copy from the same StateDict share memory (in-place edits of one show
  // in the other; the file itself never changes).
  bool zero_copy = true;
  // 8-bit weights (quant/weight_format.h) in a floating-point parameter: with keep_8bit (CPU
  // parameters) the parameter holds the mapped 8-bit bytes and is registered as quantized
  // (quant::mark_quantized; whoever runs the module dequantizes, e.g. memory::WeightStager);
  // otherwise they are dequantized now into the parameter's (or `dtype`'s) precision.
  bool keep_8bit = true;
  // Load a sub-module: only tensors whose names start with `prefix` (e.g.
  // "down_blocks.0.resnets.0.") are considered, with the prefix stripped; the others are neither
  // used nor "unexpected".
  std::string prefix;
};

// Copies every parameter and buffer of `module` (names as `module.named_parameters()` /
// `named_buffers()` give them) from `weights`. Collects ALL problems — missing tensors, unexpected
// tensors, shape mismatches, 8-bit weights without (or with mis-shaped) scales — and throws one
// ShapeError listing them, naming `component`.
void load_state_dict_strict(torch::nn::Module& module, const StateDict& weights,
                            const std::string& component, const LoadOptions& options = {});

}  // namespace i2v::weights
