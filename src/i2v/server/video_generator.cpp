#include "i2v/server/video_generator.h"

#include <ATen/Parallel.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "i2v/core/runtime.h"

namespace i2v::server {
namespace fs = std::filesystem;

namespace {
size_t weight_file_bytes(const fs::path& dir) {
  size_t total = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (it->is_regular_file(ec) &&
        (it->path().extension() == ".safetensors" || it->path().extension() == ".bin")) {
      total += it->file_size(ec);
    }
  }
  return total;
}

int unet_base_channels(const fs::path& dir) {
  std::ifstream in(dir / "unet" / "config.json");
  auto j = nlohmann::json::parse(in, nullptr, false);
  if (j.is_object() && j.contains("block_out_channels") && j["block_out_channels"].is_array() &&
      !j["block_out_channels"].empty() && j["block_out_channels"][0].is_number_integer()) {
    return j["block_out_channels"][0].get<int>();
  }
  return 320;
}
}  // namespace

PipelineGenerator::PipelineGenerator(const std::string& model,
                                     const pipeline::PipelineOptions& options)
    : model_(model), pipe_([&] {
        auto t = std::chrono::steady_clock::now();
        auto p = pipeline::I2VGenXLPipeline::load(model, options);
        load_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
        return p;
      }()) {
  const fs::path root = pipe_.model_dir().root();
  facts_.weights_bytes = weight_file_bytes(root);
  facts_.unet_base_channels = unet_base_channels(root);
  facts_.vae_scale_factor = pipe_.vae_scale_factor();
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
          {"weights_bytes", facts_.weights_bytes},
          {"load_seconds", load_seconds_}};
}

}  // namespace i2v::server
