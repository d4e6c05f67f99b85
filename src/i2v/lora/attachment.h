// Putting a component's adapters onto its loaded model for the length of a stage, and taking them
// off again, in one of two modes. Both give W' = W + scale·B·A in float32 rounded once; they
// differ in where W' lives:
//   Merged    each adapted parameter holds W' (a new tensor in the parameter's current dtype)
//             until the attachment ends, then gets its own data back. Fastest (no work per
//             call); costs one copy of every adapted weight; refuses 8-bit weights.
//   Unmerged  the stored weights stay as they are (mapped, 8-bit, streamed); each layer builds
//             W' for the product it runs (nn::layer_weight). Costs one layer's copy at a time.
#pragma once

#include <torch/nn/module.h>

#include <string>
#include <utility>
#include <vector>

#include "i2v/lora/layer_adapter.h"

namespace i2v::lora {

enum class Mode { Auto, Merged, Unmerged };
Mode parse_mode(const std::string& s);  // "auto" | "merged" | "unmerged"; ConfigError
std::string to_string(Mode m);

class Attachment {
 public:
  // Auto merges plain weights and applies 8-bit ones unmerged. ConfigError when Merged meets an
  // 8-bit weight, or a named parameter is missing (nothing is attached then).
  Attachment(torch::nn::Module& model, const ComponentAdapters& adapters, Mode mode);
  ~Attachment();
  // "merged", "unmerged" or "merged+unmerged" (Auto with some 8-bit weights).
  std::string modes() const;
  Attachment(const Attachment&) = delete;
  Attachment& operator=(const Attachment&) = delete;

 private:
  std::vector<std::pair<at::Tensor, at::Tensor>> merged_;  // (parameter, its own data)
  std::vector<at::Tensor> runtime_;                        // parameters with runtime adapters
};

}  // namespace i2v::lora
