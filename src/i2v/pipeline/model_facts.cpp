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
// 8-bit weights (`i2v quantize`) stay mapped in 8 bits; each layer dequantizes its own while it
// runs (counted as staged: the largest pair, a feed-forward's two matrices).
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
  int64_t largest_8bit = 0;
  for (const auto& tensor : sd.names()) {
    const io::TensorInfo& info = sd.info(tensor);
    int64_t numel = 1;
    for (int64_t d : info.shape) numel *= d;
    const std::string block = block_of(tensor);
    int64_t bytes = 0, staged_bytes = 0;
    if (sd.is_scale_of_8bit(tensor)) {
      bytes = numel * 4;  // float32, mapped
    } else if (quant::format_of(info.dtype)) {
      bytes = numel;  // mapped; each layer's dequantized copy exists only while it runs
      largest_8bit = std::max(largest_8bit, numel * compute_size);
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
  // The feed-forward's two matrices dequantized for its row blocks (quant::ScopedDequantized).
  if (staged && largest_8bit) (*staged)["8-bit layer in use"] = 2 * largest_8bit;
  return b;
}

// "text_model.encoder.layers.3.mlp.fc1.weight" -> "text_model.encoder.layers.3"; "" outside the
// repeated layers.
std::string encoder_layer_of(const std::string& name) {
  const std::string key = "encoder.layers.";
  const size_t at = name.find(key);
  if (at == std::string::npos) return "";
  const size_t end = name.find('.', at + key.size());
  return name.substr(0, end);
}

// A CLIP encoder's resident bytes during its stage: `whole` as it runs normally (every tensor in
// the compute dtype, 8-bit ones in 8 bits) and `streamed` layer by layer under CPU streaming
// (the rest plus the largest layer: its stored pages and any cast copy).
struct EncoderBytes {
  int64_t whole = 0, streamed = 0;
};

EncoderBytes encoder_bytes(const weights::ModelDir& dir, const std::string& name,
                           at::ScalarType dtype, weights::VariantMode variant,
                           std::optional<quant::WeightFormat>* format) {
  weights::VariantPolicy policy;
  policy.mode = variant;
  policy.compute_dtype = dtype;
  weights::StateDict sd = dir.open_weights(name, policy);
  *format = sd.quantized_format();
  const int64_t compute = static_cast<int64_t>(c10::elementSize(dtype));
  int64_t rest = 0, converted_total = 0;
  std::map<std::string, int64_t> layer_home, layer_staged;
  for (const auto& tensor : sd.names()) {
    const io::TensorInfo& info = sd.info(tensor);
    const int64_t numel = info.numel();
    const std::string layer = encoder_layer_of(tensor);
    int64_t home = 0, staged = 0;
    if (sd.is_scale_of_8bit(tensor)) {
      home = numel * 4;
    } else if (quant::format_of(info.dtype)) {
      home = numel;  // dequantized per product while it runs
    } else {
      const at::ScalarType stored = io::default_scalar_type(info.dtype);
      home = numel * static_cast<int64_t>(c10::elementSize(stored));
      if (at::isFloatingType(stored) && stored != dtype) staged = numel * compute;
    }
    converted_total += staged > 0 ? staged : home;
    if (layer.empty()) {
      rest += staged > 0 ? staged : home;  // converted for good when run layer by layer
    } else {
      layer_home[layer] += home;
      layer_staged[layer] += staged;
    }
  }
  int64_t largest_layer = 0;
  for (const auto& [layer, home] : layer_home)
    largest_layer = std::max(largest_layer, home + layer_staged[layer]);
  EncoderBytes b;
  b.whole = converted_total;
  b.streamed = rest + largest_layer;
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
  const EncoderBytes text_weights =
      encoder_bytes(dir, "text_encoder", dtype, variant, &formats["text_encoder"]);
  const EncoderBytes image_weights =
      encoder_bytes(dir, "image_encoder", dtype, variant, &formats["image_encoder"]);
  m.text_bytes = text_weights.whole;
  m.image_bytes = image_weights.whole;
  m.text_stream_bytes = text_weights.streamed;
  m.image_stream_bytes = image_weights.streamed;
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
