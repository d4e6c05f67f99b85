#include "i2v/models/clip/clip_loading.h"

namespace i2v::clip {

namespace fs = std::filesystem;

namespace {

at::TensorOptions tensor_options(const ClipLoadOptions& options) {
  return at::TensorOptions().dtype(options.dtype).device(options.device);
}

weights::VariantPolicy variant_policy(const ClipLoadOptions& options) {
  weights::VariantPolicy policy;
  policy.mode = options.variant;
  policy.compute_dtype = options.dtype;
  return policy;
}

weights::StateDict open_component_weights(const fs::path& component_dir,
                                          const ClipLoadOptions& options) {
  return weights::open_weight_files(
      weights::find_weight_files(component_dir, "transformers", variant_policy(options)));
}

// Exports made with transformers < 4.31 also hold the embeddings' `position_ids` buffer
// (arange, int64 (1, positions)); transformers 4.45 ignores it. Registering a matching buffer
// lets the strict loader accept it (and still check its shape); forward never reads it.
void accept_position_ids(torch::nn::Module& embeddings, const std::string& full_name,
                         int64_t positions, const weights::StateDict& weights,
                         const ClipLoadOptions& options) {
  if (!weights.contains(full_name)) return;
  embeddings.register_buffer(
      "position_ids",
      at::arange(positions, at::TensorOptions().dtype(at::kLong).device(options.device))
          .unsqueeze(0));
}

weights::LoadOptions load_options(const ClipLoadOptions& options) {
  weights::LoadOptions lo;
  lo.dtype = options.dtype;
  lo.zero_copy = options.zero_copy;
  return lo;
}

}  // namespace

std::shared_ptr<ClipTextModel> load_clip_text_model(const ClipTextConfig& config,
                                                    const weights::StateDict& weights,
                                                    const ClipLoadOptions& options,
                                                    const std::string& component) {
  auto model = std::make_shared<ClipTextModel>(config, tensor_options(options));
  accept_position_ids(*model->text_model->embeddings, "text_model.embeddings.position_ids",
                      config.max_position_embeddings, weights, options);
  weights::load_state_dict_strict(*model, weights, component, load_options(options));
  return model;
}

std::shared_ptr<ClipTextModel> load_clip_text_model(const fs::path& component_dir,
                                                    const ClipLoadOptions& options) {
  ClipTextConfig config = ClipTextConfig::from_file(component_dir / "config.json");
  weights::StateDict weights = open_component_weights(component_dir, options);
  return load_clip_text_model(config, weights, options, component_dir.filename().string());
}

std::shared_ptr<ClipVisionModelWithProjection> load_clip_vision_model(
    const ClipVisionConfig& config, const weights::StateDict& weights,
    const ClipLoadOptions& options, const std::string& component) {
  auto model = std::make_shared<ClipVisionModelWithProjection>(config, tensor_options(options));
  accept_position_ids(*model->vision_model->embeddings, "vision_model.embeddings.position_ids",
                      config.num_positions(), weights, options);
  weights::load_state_dict_strict(*model, weights, component, load_options(options));
  return model;
}

std::shared_ptr<ClipVisionModelWithProjection> load_clip_vision_model(
    const fs::path& component_dir, const ClipLoadOptions& options) {
  ClipVisionConfig config = ClipVisionConfig::from_file(component_dir / "config.json");
  weights::StateDict weights = open_component_weights(component_dir, options);
  return load_clip_vision_model(config, weights, options, component_dir.filename().string());
}

std::shared_ptr<ClipTextModel> load_clip_text_model(const weights::ModelDir& pipeline,
                                                    const ClipLoadOptions& options,
                                                    const std::string& component) {
  auto config = ClipTextConfig::from_json(pipeline.config(component),
                                          pipeline.config_path(component).string());
  return load_clip_text_model(config, pipeline.open_weights(component, variant_policy(options)),
                              options, component);
}

std::shared_ptr<ClipVisionModelWithProjection> load_clip_vision_model(
    const weights::ModelDir& pipeline, const ClipLoadOptions& options,
    const std::string& component) {
  auto config = ClipVisionConfig::from_json(pipeline.config(component),
                                            pipeline.config_path(component).string());
  return load_clip_vision_model(config, pipeline.open_weights(component, variant_policy(options)),
                                options, component);
}

}  // namespace i2v::clip
