#include "i2v/models/vae/autoencoder_kl.h"

#include <sstream>

#include "i2v/error.h"

namespace i2v::vae {

namespace {

std::string shape_string(const at::Tensor& t) {
  std::ostringstream s;
  s << t.sizes();
  return s.str();
}

}  // namespace

AutoencoderKLImpl::AutoencoderKLImpl(const VaeConfig& config) : config_(config) {
  using torch::nn::Conv2dOptions;
  const int64_t latent = config.latent_channels;
  encoder = register_module("encoder", VaeEncoder(config));
  decoder = register_module("decoder", VaeDecoder(config));
  if (config.use_quant_conv)
    quant_conv =
        register_module("quant_conv", torch::nn::Conv2d(Conv2dOptions(2 * latent, 2 * latent, 1)));
  if (config.use_post_quant_conv)
    post_quant_conv =
        register_module("post_quant_conv", torch::nn::Conv2d(Conv2dOptions(latent, latent, 1)));
}

at::ScalarType AutoencoderKLImpl::dtype() const {
  return encoder->conv_in->weight.scalar_type();
}

at::Device AutoencoderKLImpl::device() const {
  return encoder->conv_in->weight.device();
}

at::Tensor AutoencoderKLImpl::checked_input(const at::Tensor& t, int64_t channels,
                                            const char* what) const {
  if (!t.defined()) throw ShapeError(std::string("AutoencoderKL: ") + what + " is undefined");
  if (t.dim() != 4 || t.size(1) != channels || t.size(0) < 1 || t.size(2) < 1 || t.size(3) < 1)
    throw ShapeError(std::string("AutoencoderKL: ") + what + " must be (N, " +
                     std::to_string(channels) + ", H, W) with N, H, W >= 1, got " +
                     shape_string(t));
  if (!at::isFloatingType(t.scalar_type()))
    throw ShapeError(std::string("AutoencoderKL: ") + what + " must be a floating-point tensor");
  return t.to(device(), dtype());
}

Posterior posterior_from_moments(const at::Tensor& moments) {
  auto halves = moments.chunk(2, 1);
  Posterior p;
  p.mean = halves[0];
  p.logvar = at::clamp(halves[1], -30.0, 20.0);
  p.std = at::exp(0.5 * p.logvar);
  return p;
}

at::Tensor AutoencoderKLImpl::encode_moments(const at::Tensor& x, const TraceFn* trace_fn) {
  at::Tensor h = encoder->forward(checked_input(x, config_.in_channels, "image"), trace_fn);
  if (quant_conv) {
    h = quant_conv->forward(h);
    trace(trace_fn, "quant_conv.out", h);
  }
  return h;
}

Posterior AutoencoderKLImpl::encode(const at::Tensor& x, const TraceFn* trace_fn) {
  return posterior_from_moments(encode_moments(x, trace_fn));
}

at::Tensor AutoencoderKLImpl::decode(const at::Tensor& z, const TraceFn* trace_fn) {
  at::Tensor h = checked_input(z, config_.latent_channels, "latents");
  if (post_quant_conv) {
    h = post_quant_conv->forward(h);
    trace(trace_fn, "post_quant_conv.out", h);
  }
  return decoder->forward(h, trace_fn);
}

}  // namespace i2v::vae
