// Building an AutoencoderKL from a diffusers component folder (config.json +
// diffusion_pytorch_model[.fp16].safetensors, e.g. <pipeline>/vae), a pipeline folder, or an
// already open StateDict, with a strict load: every parameter must be in the files with its exact
// shape and nothing else may be there (ShapeError listing all problems otherwise, e.g. when the
// config does not match the weights). Files with the old attention names (query/key/value/
// proj_attn, possibly as [C, C, 1, 1]) are accepted, as diffusers does (legacy_attention_names.h).
// The loaded model is in eval mode and its parameters do not require gradients.
#pragma once

#include <ATen/ATen.h>

#include <filesystem>
#include <string>

#include "i2v/models/vae/autoencoder_kl.h"
#include "i2v/models/vae/vae_config.h"
#include "i2v/weights/model_dir.h"
#include "i2v/weights/state_dict.h"
#include "i2v/weights/weight_files.h"

namespace i2v::vae {

struct VaeLoadOptions {
  // Parameter / compute dtype (kFloat or kBFloat16); weights of another dtype (an fp16 variant)
  // are converted while loading.
  at::ScalarType dtype = at::kFloat;
  at::Device device = at::kCPU;
  // Which weight files of the folder (Auto: the full files for fp32, a half variant for bf16
  // when one exists).
  weights::VariantMode variant = weights::VariantMode::Auto;
  // Let parameters alias the memory-mapped file where dtype and device allow (no copy).
  bool zero_copy = true;
};

AutoencoderKL load_autoencoder_kl(const VaeConfig& config, const weights::StateDict& weights,
                                  const VaeLoadOptions& options = {},
                                  const std::string& component = "vae");
AutoencoderKL load_autoencoder_kl(const std::filesystem::path& component_dir,
                                  const VaeLoadOptions& options = {});
// From a pipeline folder (or cached hub repo): its "vae" component by default.
AutoencoderKL load_autoencoder_kl(const weights::ModelDir& pipeline,
                                  const VaeLoadOptions& options = {},
                                  const std::string& component = "vae");

}  // namespace i2v::vae
