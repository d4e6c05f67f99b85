// Which tensors `i2v quantize` stores in 8 bits and which keep their precision, with the reason
// (as diffusers' layerwise casting and ComfyUI's fp8 checkpoints do, for quality): only the
// weight matrices and convolution kernels of the repeated blocks are quantized. Kept:
//   - biases and every 1-D tensor (norm scales and shifts, embedding vectors);
//   - normalisation layers and embeddings (time/fps/context, CLIP token/position/patch/class);
//   - the UNet's conv_in and conv_out, every transformer's proj_in and proj_out, and the image
//     conditioning path (image_latents_*), small and quality-critical;
//   - CLIP's text_projection / visual_projection (the embeddings the UNet sees).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace i2v::quant {

// The components `i2v quantize` accepts.
bool is_quantizable_component(const std::string& component);  // unet, text_encoder, image_encoder

// Why `name` (a tensor of `component` with `shape`) keeps its precision; nullopt when it is
// quantized.
std::optional<std::string> keeps_precision(const std::string& component, const std::string& name,
                                           const std::vector<int64_t>& shape);

}  // namespace i2v::quant
