#include "i2v/models/vae/vae_loading.h"

#include "i2v/models/vae/legacy_attention_names.h"

namespace i2v::vae {

namespace fs = std::filesystem;

namespace {

weights::VariantPolicy variant_policy(const VaeLoadOptions& options) {
  weights::VariantPolicy policy;
  policy.mode = options.variant;
  policy.compute_dtype = options.dtype;
  return policy;
}

}  // namespace

AutoencoderKL load_autoencoder_kl(const VaeConfig& config, const weights::StateDict& weights,
                                  const VaeLoadOptions& options, const std::string& component) {
  AutoencoderKL model(config);
  model->to(options.device, options.dtype);
  weights::LoadOptions lo;
  lo.dtype = options.dtype;
  lo.zero_copy = options.zero_copy;
  if (has_legacy_attention_names(weights))
    load_with_legacy_attention_names(*model, weights, component, lo);
  else
    weights::load_state_dict_strict(*model, weights, component, lo);
  // Inference only: no autograd graph (and no saved activations) unless a caller opts in.
  for (auto& p : model->parameters()) p.set_requires_grad(false);
  model->eval();
  return model;
}

AutoencoderKL load_autoencoder_kl(const fs::path& component_dir, const VaeLoadOptions& options) {
  VaeConfig config = VaeConfig::from_file(component_dir / "config.json");
  weights::StateDict weights = weights::open_weight_files(
      weights::find_weight_files(component_dir, "diffusers", variant_policy(options)));
  return load_autoencoder_kl(config, weights, options, component_dir.filename().string());
}

AutoencoderKL load_autoencoder_kl(const weights::ModelDir& pipeline, const VaeLoadOptions& options,
                                  const std::string& component) {
  VaeConfig config =
      VaeConfig::from_json(pipeline.config(component), pipeline.config_path(component).string());
  return load_autoencoder_kl(config, pipeline.open_weights(component, variant_policy(options)),
                             options, component);
}

}  // namespace i2v::vae
