// diffusers 0.31 AutoencoderKL (the Stable Diffusion KL-f8 autoencoder in the official I2VGen-XL
// config). Parameter names are exactly the diffusers state-dict names: encoder.*, quant_conv.*,
// post_quant_conv.*, decoder.* (see vae_encoder.h / vae_decoder.h / vae_blocks.h).
//
// Latent scaling is the caller's job, as in diffusers: image latents are
// `posterior.sample(noise) * config().scaling_factor`, and decode() takes
// `latents / config().scaling_factor`.
#pragma once

#include <ATen/ATen.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/pimpl.h>

#include "i2v/models/vae/vae_config.h"
#include "i2v/models/vae/vae_decoder.h"
#include "i2v/models/vae/vae_encoder.h"
#include "i2v/models/vae/vae_trace.h"

namespace i2v::vae {

// diffusers' DiagonalGaussianDistribution over the latents, each (N, latent_channels, h, w).
struct Posterior {
  at::Tensor mean;
  at::Tensor logvar;  // clamped to [-30, 20]
  at::Tensor std;     // exp(0.5 * logvar)

  // mean + std * noise (latent_dist.sample() with the noise drawn by the caller).
  at::Tensor sample(const at::Tensor& noise) const { return mean + std * noise; }
  const at::Tensor& mode() const { return mean; }
};

class AutoencoderKLImpl : public torch::nn::Module {
 public:
  // Builds the network with default-initialised float32 parameters on the CPU; load weights with
  // load_autoencoder_kl / load_state_dict_strict, convert with to(dtype / device).
  explicit AutoencoderKLImpl(const VaeConfig& config);

  // x: (N, in_channels, H, W) image in [-1, 1] (any H, W >= 1; cast to the parameters' dtype and
  // device). ShapeError for other shapes. Traces the encoder's stages and "quant_conv.out".
  Posterior encode(const at::Tensor& x, const TraceFn* trace_fn = nullptr);

  // The encoder moments (N, 2 * latent_channels, h, w) after quant_conv: mean, then logvar.
  at::Tensor encode_moments(const at::Tensor& x, const TraceFn* trace_fn = nullptr);

  // z: (N, latent_channels, h, w) latents ALREADY DIVIDED by the scaling factor (cast to the
  // parameters' dtype and device). Returns (N, out_channels, h * s, w * s), unclamped, in the
  // parameters' dtype. Traces "post_quant_conv.out" and the decoder's stages.
  at::Tensor decode(const at::Tensor& z, const TraceFn* trace_fn = nullptr);

  const VaeConfig& config() const { return config_; }
  at::ScalarType dtype() const;
  at::Device device() const;

  VaeEncoder encoder{nullptr};
  VaeDecoder decoder{nullptr};
  torch::nn::Conv2d quant_conv{nullptr};       // absent when !use_quant_conv
  torch::nn::Conv2d post_quant_conv{nullptr};  // absent when !use_post_quant_conv

 private:
  at::Tensor checked_input(const at::Tensor& t, int64_t channels, const char* what) const;

  VaeConfig config_;
};
TORCH_MODULE(AutoencoderKL);

// Splits moments (N, 2C, h, w) into the posterior (logvar clamped, std = exp(logvar / 2)).
Posterior posterior_from_moments(const at::Tensor& moments);

}  // namespace i2v::vae
