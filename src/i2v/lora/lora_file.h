// Reading a LoRA file (safetensors) in any of the three layouts people publish, into one list of
// per-module adapters, before they are matched against a model (lora/resolve.h):
//   diffusers / PEFT    unet.<module>.lora_A.weight [r, in], <module>.lora_B.weight [out, r]
//                       (also text_encoder.<module>..., a base_model.model. prefix, no prefix =
//                       UNet, and the older <module>.lora.down/up.weight)
//   attention processor <attention>.processor.to_q_lora.down.weight / .up.weight (to_k, to_v,
//                       to_out -> to_out.0)
//   kohya               lora_unet_<path with _>.lora_down.weight / .lora_up.weight / .alpha,
//                       lora_te_<path> for the text encoder
// An optional <module>.alpha (a scalar) sets scale = multiplier · alpha / r; without it alpha = r.
#pragma once

#include <ATen/ATen.h>

#include <filesystem>
#include <string>
#include <vector>

namespace i2v::lora {

struct FileAdapter {
  std::string component;  // "unet" or "text_encoder"
  // The module's dotted path ("down_blocks.0.attentions.0...attn1.to_q"), or for kohya names the
  // path with every '.' written as '_' (flat = true), matched against the model's real paths.
  std::string module;
  bool flat = false;
  std::string key;             // one of its keys in the file, for messages
  at::Tensor up, down, alpha;  // alpha undefined when absent
};

struct LoraFile {
  std::filesystem::path path;
  std::string sha256;
  std::string layout;  // "peft", "attention-processor", "kohya" (joined with '+' when mixed)
  std::vector<FileAdapter> adapters;
  std::vector<std::string> problems;  // keys that are no LoRA weight i2v knows (listed in errors)
  int64_t bytes = 0;                  // file size
};

// IoError when the file cannot be read, FormatError when it is no valid safetensors file or
// holds no LoRA weights at all. Keys of other kinds (LoHa, LoKr, DoRA ...) land in `problems`.
LoraFile read_lora_file(const std::filesystem::path& path);

}  // namespace i2v::lora
