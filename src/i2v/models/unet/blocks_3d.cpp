#include "i2v/models/unet/blocks_3d.h"

#include <ATen/ATen.h>

#include "i2v/core/error.h"

namespace i2v::unet {
namespace {

torch::nn::ModuleList list(torch::nn::Module& owner, const std::string& name) {
  return owner.register_module(name, torch::nn::ModuleList());
}

}  // namespace

void Layers3D::build(torch::nn::Module& owner,
                     const std::vector<std::pair<int64_t, int64_t>>& resnet_io,
                     const BlockSettings& s, bool with_attention) {
  auto resnets = list(owner, "resnets");
  auto temp_convs = list(owner, "temp_convs");
  torch::nn::ModuleList attentions{nullptr}, temp_attentions{nullptr};
  if (with_attention) {
    attentions = list(owner, "attentions");
    temp_attentions = list(owner, "temp_attentions");
  }
  for (const auto& [in, out] : resnet_io) {
    resnets_.emplace_back(in, out, s.temb_channels, s.groups, 1e-5);
    resnets->push_back(resnets_.back());
    temp_convs_.emplace_back(out, out, s.groups);
    temp_convs->push_back(temp_convs_.back());
    if (with_attention) {
      const int64_t heads = out / s.head_size;
      attentions_.emplace_back(out, heads, s.head_size, s.cross_attention_dim, s.groups);
      attentions->push_back(attentions_.back());
      temp_attentions_.emplace_back(out, heads, s.head_size, s.groups);
      temp_attentions->push_back(temp_attentions_.back());
    }
  }
}

at::Tensor Layers3D::layer(size_t i, at::Tensor h, const at::Tensor& temb,
                           const at::Tensor& context, int64_t num_frames) {
  h = resnets_[i]->forward(h, temb);
  h = temp_convs_[i]->forward(h, num_frames);
  if (!attentions_.empty()) {
    h = attentions_[i]->forward(h, context);
    h = temp_attentions_[i]->forward(h, num_frames);
  }
  return h;
}

DownBlock3DImpl::DownBlock3DImpl(int64_t in, int64_t out, const BlockSettings& s,
                                 bool add_downsample) {
  std::vector<std::pair<int64_t, int64_t>> io;
  for (int64_t i = 0; i < s.num_layers; ++i) io.emplace_back(i == 0 ? in : out, out);
  build(*this, io, s, s.cross_attention);
  if (add_downsample) {
    downsample_ = nn::Downsample2D(out, out, 1);
    register_module("downsamplers", torch::nn::ModuleList(downsample_));
  }
}

at::Tensor DownBlock3DImpl::forward(const at::Tensor& x, const at::Tensor& temb,
                                    const at::Tensor& context, int64_t num_frames,
                                    std::vector<at::Tensor>& skips) {
  at::Tensor h = x;
  for (size_t i = 0; i < resnets_.size(); ++i) {
    h = layer(i, h, temb, context, num_frames);
    skips.push_back(h);
  }
  if (downsample_) {
    h = downsample_->forward(h);
    skips.push_back(h);
  }
  return h;
}

MidBlock3DImpl::MidBlock3DImpl(int64_t c, const BlockSettings& s) {
  auto resnets = list(*this, "resnets");
  auto temp_convs = list(*this, "temp_convs");
  auto attentions = list(*this, "attentions");
  auto temp_attentions = list(*this, "temp_attentions");
  const int64_t heads = c / s.head_size;
  for (int64_t i = 0; i <= s.num_layers; ++i) {
    resnets_.emplace_back(c, c, s.temb_channels, s.groups, 1e-5);
    resnets->push_back(resnets_.back());
    temp_convs_.emplace_back(c, c, s.groups);
    temp_convs->push_back(temp_convs_.back());
    if (i < s.num_layers) {
      attentions_.emplace_back(c, heads, s.head_size, s.cross_attention_dim, s.groups);
      attentions->push_back(attentions_.back());
      temp_attentions_.emplace_back(c, heads, s.head_size, s.groups);
      temp_attentions->push_back(temp_attentions_.back());
    }
  }
}

at::Tensor MidBlock3DImpl::forward(const at::Tensor& x, const at::Tensor& temb,
                                   const at::Tensor& context, int64_t num_frames) {
  at::Tensor h = temp_convs_[0]->forward(resnets_[0]->forward(x, temb), num_frames);
  for (size_t i = 0; i < attentions_.size(); ++i) {
    h = attentions_[i]->forward(h, context);
    h = temp_attentions_[i]->forward(h, num_frames);
    h = resnets_[i + 1]->forward(h, temb);
    h = temp_convs_[i + 1]->forward(h, num_frames);
  }
  return h;
}

UpBlock3DImpl::UpBlock3DImpl(int64_t in, int64_t prev_out, int64_t out, const BlockSettings& s,
                             bool add_upsample) {
  std::vector<std::pair<int64_t, int64_t>> io;
  for (int64_t i = 0; i < s.num_layers; ++i) {
    const int64_t skip = i == s.num_layers - 1 ? in : out;
    const int64_t resnet_in = i == 0 ? prev_out : out;
    io.emplace_back(resnet_in + skip, out);
  }
  build(*this, io, s, s.cross_attention);
  if (add_upsample) {
    upsample_ = nn::Upsample2D(out, out);
    register_module("upsamplers", torch::nn::ModuleList(upsample_));
  }
}

at::Tensor UpBlock3DImpl::forward(const at::Tensor& x, const at::Tensor& temb,
                                  const at::Tensor& context, int64_t num_frames,
                                  std::vector<at::Tensor>& skips,
                                  const std::optional<std::vector<int64_t>>& upsample_size) {
  if (skips.size() < resnets_.size()) throw ShapeError("UNet up block: not enough skip tensors");
  at::Tensor h = x;
  for (size_t i = 0; i < resnets_.size(); ++i) {
    at::Tensor skip = skips.back();
    skips.pop_back();
    h = layer(i, at::cat({h, skip}, 1), temb, context, num_frames);
  }
  if (upsample_) h = upsample_->forward(h, upsample_size);
  return h;
}

}  // namespace i2v::unet
