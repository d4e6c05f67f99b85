#include "i2v/modelgen/component_builders.h"

#include "i2v/error.h"
#include "i2v/models/clip/clip_config.h"
#include "i2v/models/clip/clip_text_model.h"
#include "i2v/models/clip/clip_vision_model.h"
#include "i2v/models/unet/i2vgen_xl_unet.h"
#include "i2v/models/unet/unet_config.h"
#include "i2v/models/vae/autoencoder_kl.h"
#include "i2v/models/vae/vae_config.h"

namespace i2v::modelgen {
namespace fs = std::filesystem;
namespace {

const ComponentKind kKinds[] = {
    {"CLIPTextModel", "model"},
    {"CLIPVisionModelWithProjection", "model"},
    {"AutoencoderKL", "diffusion_pytorch_model"},
    {"I2VGenXLUNet", "diffusion_pytorch_model"},
};

}  // namespace

const ComponentKind* find_component_kind(const std::string& class_name) {
  for (const auto& k : kKinds)
    if (k.class_name == class_name) return &k;
  return nullptr;
}

std::shared_ptr<torch::nn::Module> build_component(const std::string& class_name,
                                                   const fs::path& dir) {
  const fs::path config = dir / "config.json";
  if (class_name == "CLIPTextModel") {
    return std::make_shared<clip::ClipTextModel>(clip::ClipTextConfig::from_file(config));
  }
  if (class_name == "CLIPVisionModelWithProjection") {
    return std::make_shared<clip::ClipVisionModelWithProjection>(
        clip::ClipVisionConfig::from_file(config));
  }
  if (class_name == "AutoencoderKL") {
    return std::make_shared<vae::AutoencoderKLImpl>(vae::VaeConfig::from_file(config));
  }
  if (class_name == "I2VGenXLUNet") {
    return std::make_shared<unet::I2VGenXLUNetImpl>(unet::UNetConfig::from_file(config));
  }
  throw ConfigError("i2v cannot build a '" + class_name + "' (from " + dir.string() + ")");
}

}  // namespace i2v::modelgen
