#include "i2v/pipeline/model_facts.h"

#include <map>
#include <optional>

#include "i2v/io/safetensors.h"
#include "i2v/models/unet/unet_config.h"
#include "i2v/quant/weight_format.h"

namespace i2v::pipeline {
namespace {

// Resident bytes of a component's weights in `dtype`: the stored bytes where the file already has
// it (the tensors view the mapping), the converted size otherwise. Per top-level block too.
struct Bytes {
  int64_t total = 0;
  std::map<std::string, int64_t> by_block;
};

std::string block_of(const std::string& name) {
  // "down_blocks.1.resnets.0..." -> "down_blocks.1"; "mid_block..." -> "mid_block".
  size_t dot = name.find('.');
  if (dot == std::string::npos) return name;
  std::string head = name.substr(0, dot);
  if (head == "down_blocks" || head == "up_blocks") {
    size_t dot2 = name.find('.', dot + 1);
    return name.substr(0, dot2);
  }
  return head;
}

bool is_top_level_block(const std::string& block) {
  return block == "transformer_in" || block == "mid_block" || block.rfind("down_blocks.", 0) == 0 ||
         block.rfind("up_blocks.", 0) == 0;
}

// `keep_stored_blocks`: the UNet's rule (pipeline load) — when every float tensor of the files
// has one precision, the top-level blocks stay in it and the rest is converted; `staged` then
// gets the compute-dtype size of what each block stages (casts, dequantized 8-bit weights).
// 8-bit weights (`i2v quantize`) stay mapped in 8 bits inside the UNet's blocks; an encoder's
// are dequantized whole while its stage runs (8-bit home plus the compute-dtype copy).
Bytes component_bytes(const weights::ModelDir& dir, const std::string& name, at::ScalarType dtype,
                      weights::VariantMode variant, bool keep_stored_blocks = false,
                      std::map<std::string, int64_t>* staged = nullptr,
                      std::optional<quant::WeightFormat>* format = nullptr) {
  weights::VariantPolicy policy;
  policy.mode = variant;
  policy.compute_dtype = dtype;
  weights::StateDict sd = dir.open_weights(name, policy);
  const std::optional<at::ScalarType> stored_float = sd.float_dtype();
  const std::optional<quant::WeightFormat> quantized = sd.quantized_format();
  if (format) *format = quantized;
  const bool keep = keep_stored_blocks && ((stored_float && *stored_float != dtype) || quantized);
  const int64_t compute_size = static_cast<int64_t>(c10::elementSize(dtype));
  Bytes b;
  for (const auto& tensor : sd.names()) {
    const io::TensorInfo& info = sd.info(tensor);
    int64_t numel = 1;
    for (int64_t d : info.shape) numel *= d;
    const std::string block = block_of(tensor);
    int64_t bytes = 0, staged_bytes = 0;
    if (sd.is_scale_of_8bit(tensor)) {
      bytes = numel * 4;  // float32, mapped
    } else if (quant::format_of(info.dtype)) {
      if (keep_stored_blocks && is_top_level_block(block)) {
        bytes = numel;
        staged_bytes = numel * compute_size;
      } else {
        bytes = numel * (keep_stored_blocks ? compute_size : 1 + compute_size);
      }
    } else {
      const at::ScalarType stored = io::default_scalar_type(info.dtype);
      const bool floating = at::isFloatingType(stored);
      const bool stays = keep && is_top_level_block(block);
      const at::ScalarType resident = floating && !stays ? dtype : stored;
      bytes = numel * static_cast<int64_t>(c10::elementSize(resident));
      if (stays && floating && stored != dtype) staged_bytes = numel * compute_size;
    }
    b.total += bytes;
    b.by_block[block] += bytes;
    if (staged && staged_bytes) (*staged)[block] += staged_bytes;
  }
  return b;
}

}  // namespace

memory::ModelFacts model_facts(const weights::ModelDir& dir, at::ScalarType dtype,
                               weights::VariantMode variant) {
  memory::ModelFacts m;
  auto unet = unet::UNetConfig::from_json(dir.config("unet"), dir.config_path("unet").string());
  m.unet_channels = unet.block_out_channels;
  m.unet_layers_per_block = unet.layers_per_block;
  m.unet_in_channels = unet.in_channels;
  m.cross_attention_dim = unet.cross_attention_dim;
  m.head_size = unet.head_size();
  auto vae = dir.config("vae");
  if (vae.contains("block_out_channels"))
    m.vae_channels = vae["block_out_channels"].get<std::vector<int64_t>>();
  m.vae_scale = int64_t{1} << (m.vae_channels.size() - 1);
  auto text = dir.config("text_encoder");
  m.text_dim = text.value("hidden_size", m.text_dim);
  auto image = dir.config("image_encoder");
  m.image_dim = image.value("hidden_size", m.image_dim);
  const int64_t patch = image.value("patch_size", 14), size = image.value("image_size", 224);
  m.image_tokens = (size / patch) * (size / patch) + 1;

  std::map<std::string, std::optional<quant::WeightFormat>> formats;
  m.text_bytes =
      component_bytes(dir, "text_encoder", dtype, variant, false, nullptr, &formats["text_encoder"])
          .total;
  m.image_bytes = component_bytes(dir, "image_encoder", dtype, variant, false, nullptr,
                                  &formats["image_encoder"])
                      .total;
  m.vae_bytes = component_bytes(dir, "vae", dtype, variant).total;
  std::map<std::string, int64_t> staged;
  Bytes u = component_bytes(dir, "unet", dtype, variant, /*keep_stored_blocks=*/true, &staged,
                            &formats["unet"]);
  for (const auto& [component, format] : formats)
    if (format) m.weights_8bit[component] = quant::to_string(*format);
  m.unet_bytes = u.total;
  for (const auto& [block, bytes] : u.by_block)
    m.unet_block_bytes = std::max(m.unet_block_bytes, bytes);
  for (const auto& [block, bytes] : staged)
    m.unet_staged_block_bytes = std::max(m.unet_staged_block_bytes, bytes);
  for (const auto& [block, bytes] : u.by_block) {
    if (!is_top_level_block(block)) m.unet_rest_bytes += bytes;
  }
  return m;
}

}  // namespace i2v::pipeline
