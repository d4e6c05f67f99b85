// Finding a component's weight files in its folder, the way diffusers and transformers name them:
//   <base>.safetensors                      one file
//   <base>.<variant>.safetensors            a precision variant (fp16, bf16)
//   <base>.safetensors.index.json           sharded: "weight_map" names the shard files
//   <base>.safetensors.index.<variant>.json (diffusers/transformers naming of a sharded variant;
//   <base>.<variant>.safetensors.index.json  is accepted too)
// where <base> is "diffusion_pytorch_model" (diffusers) or "model" (transformers).
#pragma once

#include <ATen/ATen.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "i2v/weights/state_dict.h"

namespace i2v::weights {

// Which precision variant of the weights to read (--variant).
enum class VariantMode {
  Auto,  // the best available for the compute dtype (see variant_preference)
  None,  // the full-precision files without a variant suffix
  Fp16,  // <base>.fp16.safetensors
  Bf16,  // <base>.bf16.safetensors
};

VariantMode parse_variant_mode(const std::string& s);  // "auto|none|fp16|bf16"; ConfigError
std::string to_string(VariantMode m);

struct VariantPolicy {
  VariantMode mode = VariantMode::Auto;
  // For Auto: the dtype the model will compute in. Half-precision compute prefers a half
  // variant (half the bytes to read, same result after the cast); fp32 prefers the full files.
  at::ScalarType compute_dtype = at::kFloat;
};

// The variant suffixes to try, best first ("" = no variant). Explicit modes give one entry.
std::vector<std::string> variant_preference(const VariantPolicy& policy);

// One complete set of weight files in a folder.
struct WeightFiles {
  std::string variant;                         // "" for the files without a variant suffix
  std::vector<std::filesystem::path> files;    // the safetensors file, or every shard (index order)
  std::optional<std::filesystem::path> index;  // the *.safetensors.index.json of a sharded set
};

// Every safetensors weight set in `folder` (one per variant; a single file wins over an index of
// the same variant). `library` ("diffusers"/"transformers"/other) picks the base name tried
// first. An index whose shards are missing is an IoError naming them.
std::vector<WeightFiles> list_weight_files(const std::filesystem::path& folder,
                                           const std::string& library);

// The set `policy` selects. Errors, each naming the folder and listing what exists:
// ConfigError for an explicit variant that is absent, FormatError when only pickle (.bin/.ckpt)
// weights exist, IoError when there are no weights at all.
WeightFiles find_weight_files(const std::filesystem::path& folder, const std::string& library,
                              const VariantPolicy& policy);

// Opens the files as one StateDict. For a sharded set, checks the index's weight_map against the
// shards' contents (FormatError listing tensors the index names but no shard has, or that sit in
// another shard than the index says).
StateDict open_weight_files(const WeightFiles& files);

}  // namespace i2v::weights
