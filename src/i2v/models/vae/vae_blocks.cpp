#include "i2v/models/vae/vae_blocks.h"

#include "i2v/models/vae/vae_config.h"

namespace i2v::vae {

namespace {

nn::ResnetBlock2D vae_resnet(int64_t in_channels, int64_t out_channels, int64_t groups) {
  return nn::ResnetBlock2D(in_channels, out_channels, /*temb_channels=*/0, groups,
                           VaeConfig::kNormEps);
}

// Registers `count` resnets as the ModuleList "resnets" of `owner` (names resnets.<i>.*).
std::vector<nn::ResnetBlock2D> register_resnets(torch::nn::Module& owner, int64_t in_channels,
                                                int64_t out_channels, int64_t count,
                                                int64_t groups) {
  std::vector<nn::ResnetBlock2D> list;
  auto modules = owner.register_module("resnets", torch::nn::ModuleList());
  for (int64_t i = 0; i < count; ++i) {
    list.push_back(vae_resnet(i == 0 ? in_channels : out_channels, out_channels, groups));
    modules->push_back(list.back());
  }
  return list;
}

}  // namespace

DownEncoderBlock2DImpl::DownEncoderBlock2DImpl(int64_t in_channels, int64_t out_channels,
                                               int64_t num_layers, int64_t groups,
                                               bool add_downsample) {
  resnet_list = register_resnets(*this, in_channels, out_channels, num_layers, groups);
  if (add_downsample) {
    downsampler = nn::Downsample2D(out_channels, out_channels, /*padding=*/0);
    register_module("downsamplers", torch::nn::ModuleList(downsampler));
  }
}

at::Tensor DownEncoderBlock2DImpl::forward(const at::Tensor& x) {
  at::Tensor h = x;
  for (auto& resnet : resnet_list) h = resnet->forward(h);
  if (downsampler) h = downsampler->forward(h);
  return h;
}

UpDecoderBlock2DImpl::UpDecoderBlock2DImpl(int64_t in_channels, int64_t out_channels,
                                           int64_t num_layers, int64_t groups, bool add_upsample) {
  resnet_list = register_resnets(*this, in_channels, out_channels, num_layers, groups);
  if (add_upsample) {
    upsampler = nn::Upsample2D(out_channels, out_channels);
    register_module("upsamplers", torch::nn::ModuleList(upsampler));
  }
}

at::Tensor UpDecoderBlock2DImpl::forward(const at::Tensor& x) {
  at::Tensor h = x;
  for (auto& resnet : resnet_list) h = resnet->forward(h);
  if (upsampler) h = upsampler->forward(h);
  return h;
}

VaeMidBlockImpl::VaeMidBlockImpl(int64_t channels, int64_t groups, bool add_attention) {
  resnet0 = vae_resnet(channels, channels, groups);
  resnet1 = vae_resnet(channels, channels, groups);
  register_module("resnets", torch::nn::ModuleList(resnet0, resnet1));
  if (add_attention) {
    // diffusers: heads = channels / attention_head_dim with attention_head_dim = channels.
    nn::AttentionOptions o;
    o.query_dim = channels;
    o.heads = 1;
    o.dim_head = channels;
    o.bias = true;
    o.out_bias = true;
    o.norm_num_groups = groups;
    o.norm_eps = VaeConfig::kNormEps;
    o.residual_connection = true;
    attention = nn::Attention(o);
    register_module("attentions", torch::nn::ModuleList(attention));
  }
}

at::Tensor VaeMidBlockImpl::forward(const at::Tensor& x) {
  at::Tensor h = resnet0->forward(x);
  if (attention) h = attention->forward(h);
  return resnet1->forward(h);
}

}  // namespace i2v::vae
