#include "i2v/server/video_generator.h"

#include <ATen/Parallel.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "i2v/core/runtime.h"
#include "i2v/pipeline/model_facts.h"

namespace i2v::server {
namespace fs = std::filesystem;

PipelineGenerator::PipelineGenerator(const std::string& model,
                                     const pipeline::PipelineOptions& options)
    : model_(model), pipe_([&] {
        auto t = std::chrono::steady_clock::now();
        auto p = pipeline::I2VGenXLPipeline::load(model, options);
        load_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
        return p;
      }()) {
  facts_.model = pipeline::model_facts(pipe_.model_dir(), pipe_.dtype(), options.variant);
  facts_.element_bytes = static_cast<int64_t>(c10::elementSize(pipe_.dtype()));
}

void PipelineGenerator::validate(const pipeline::GenerationRequest& r) const {
  pipe_.validate(r);
}

pipeline::GenerationResult PipelineGenerator::generate(const pipeline::GenerationRequest& r,
                                                       const pipeline::GenerationHooks& hooks) {
  return pipe_.generate(r, hooks);
}

nlohmann::json PipelineGenerator::describe() const {
  return {{"model", pipe_.model_dir().description()},
          {"model_path", model_},
          {"precision", pipe_.dtype() == at::kBFloat16 ? "bf16"
                        : pipe_.dtype() == at::kHalf   ? "fp16"
                                                       : "fp32"},
          {"device", cuda_available() ? "cuda available (running on CPU)" : "cpu"},
          {"threads", at::get_num_threads()},
          {"weights_bytes", facts_.model.text_bytes + facts_.model.image_bytes +
                                facts_.model.vae_bytes + facts_.model.unet_bytes},
          {"load_seconds", load_seconds_}};
}

}  // namespace i2v::server
