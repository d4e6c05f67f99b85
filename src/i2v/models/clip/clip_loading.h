// Building a CLIP tower from a transformers component folder (config.json + model*.safetensors,
// e.g. <pipeline>/text_encoder) or from an already open StateDict, with a strict load: every
// parameter must be in the files with its exact shape and nothing else may be there (ShapeError
// listing all problems otherwise).
#pragma once

#include <ATen/ATen.h>

#include <filesystem>
#include <memory>
#include <string>

#include "i2v/models/clip/clip_config.h"
#include "i2v/models/clip/clip_text_model.h"
#include "i2v/models/clip/clip_vision_model.h"
#include "i2v/weights/model_dir.h"
#include "i2v/weights/state_dict.h"
#include "i2v/weights/weight_files.h"

namespace i2v::clip {

struct ClipLoadOptions {
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

std::shared_ptr<ClipTextModel> load_clip_text_model(const std::filesystem::path& component_dir,
                                                    const ClipLoadOptions& options = {});
std::shared_ptr<ClipTextModel> load_clip_text_model(const ClipTextConfig& config,
                                                    const weights::StateDict& weights,
                                                    const ClipLoadOptions& options = {},
                                                    const std::string& component = "text_encoder");

// From a pipeline folder (or cached hub repo): its "text_encoder" component by default.
std::shared_ptr<ClipTextModel> load_clip_text_model(const weights::ModelDir& pipeline,
                                                    const ClipLoadOptions& options = {},
                                                    const std::string& component = "text_encoder");

std::shared_ptr<ClipVisionModelWithProjection> load_clip_vision_model(
    const std::filesystem::path& component_dir, const ClipLoadOptions& options = {});
std::shared_ptr<ClipVisionModelWithProjection> load_clip_vision_model(
    const ClipVisionConfig& config, const weights::StateDict& weights,
    const ClipLoadOptions& options = {}, const std::string& component = "image_encoder");
std::shared_ptr<ClipVisionModelWithProjection> load_clip_vision_model(
    const weights::ModelDir& pipeline, const ClipLoadOptions& options = {},
    const std::string& component = "image_encoder");

}  // namespace i2v::clip
