#include "i2v/models/unet/blocks_3d.h"

#include <ATen/ATen.h>

#include "i2v/error.h"
#include "i2v/models/unet/chunked_layers.h"

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
                           const at::Tensor& context, int64_t num_frames,
                           const memory::ExecPlan& plan) {
  h = resnet_chunked(*resnets_[i], h, temb, plan.frame_chunk);
  h = temporal_conv_chunked(*temp_convs_[i], h, num_frames, plan.temporal_chunk);
  if (!attentions_.empty()) {
    h = spatial_transformer_chunked(*attentions_[i], h, context, plan.frame_chunk);
    h = temporal_transformer_chunked(*temp_attentions_[i], h, num_frames, plan.temporal_chunk);
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
                                    std::vector<at::Tensor>& skips, const memory::ExecPlan& plan) {
  at::Tensor h = x;
  for (size_t i = 0; i < resnets_.size(); ++i) {
    h = layer(i, h, temb, context, num_frames, plan);
    skips.push_back(h);
  }
  if (downsample_) {
    h = memory::map_rows(h.size(0), plan.frame_chunk, [&](int64_t b, int64_t e) {
      return downsample_->forward(h.slice(0, b, e));
    });
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
                                   const at::Tensor& context, int64_t num_frames,
                                   const memory::ExecPlan& plan) {
  const int64_t fc = plan.frame_chunk, tc = plan.temporal_chunk;
  at::Tensor h = temporal_conv_chunked(*temp_convs_[0], resnet_chunked(*resnets_[0], x, temb, fc),
                                       num_frames, tc);
  for (size_t i = 0; i < attentions_.size(); ++i) {
    h = spatial_transformer_chunked(*attentions_[i], h, context, fc);
    h = temporal_transformer_chunked(*temp_attentions_[i], h, num_frames, tc);
    h = resnet_chunked(*resnets_[i + 1], h, temb, fc);
    h = temporal_conv_chunked(*temp_convs_[i + 1], h, num_frames, tc);
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
                                  const std::optional<std::vector<int64_t>>& upsample_size,
                                  const memory::ExecPlan& plan) {
  if (skips.size() < resnets_.size()) throw ShapeError("UNet up block: not enough skip tensors");
  at::Tensor h = x;
  for (size_t i = 0; i < resnets_.size(); ++i) {
    at::Tensor skip = skips.back();
    skips.pop_back();
    h = layer(i, at::cat({h, skip}, 1), temb, context, num_frames, plan);
  }
  if (upsample_) {
    h = memory::map_rows(h.size(0), plan.frame_chunk, [&](int64_t b, int64_t e) {
      return upsample_->forward(h.slice(0, b, e), upsample_size);
    });
  }
  return h;
}

}  // namespace i2v::unet
