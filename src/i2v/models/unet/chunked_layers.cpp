#include "i2v/models/unet/chunked_layers.h"

#include <torch/nn/modules/container/modulelist.h>

#include "i2v/error.h"
#include "i2v/nn/basic_transformer_block.h"
#include "i2v/nn/checkpoint.h"
#include "i2v/nn/layer_weight.h"
#include "i2v/nn/linear.h"

namespace i2v::unet {
namespace {

// Rows of W positions per chunk of `positions` (at least one row).
int64_t rows_for(int64_t positions, int64_t width) {
  return std::max<int64_t>(1, positions / std::max<int64_t>(1, width));
}

template <class Fn>
void for_row_chunks(int64_t h, int64_t rows, Fn&& fn) {
  for (int64_t r = 0; r < h; r += rows) fn(r, std::min(h, r + rows));
}

}  // namespace

at::Tensor resnet_chunked(nn::ResnetBlock2DImpl& resnet, const at::Tensor& x,
                          const at::Tensor& temb, int64_t chunk) {
  if (nn::checkpointing_active_for(x)) {  // training: keep only the inputs (nn/checkpoint.h)
    nn::ResnetBlock2DImpl* r = &resnet;
    return nn::checkpointed([r](const auto& in) { return r->forward(in[0], in[1]); }, {x, temb});
  }
  if (chunk <= 0 || chunk >= x.size(0)) return resnet.forward(x, temb);
  nn::ScopedLayerWeights adapted(resnet, x.scalar_type(),
                                 /*adapted_only=*/true);  // once, not per chunk
  return memory::map_rows(x.size(0), chunk, [&](int64_t b, int64_t e) {
    return resnet.forward(x.slice(0, b, e), temb.defined() ? temb.slice(0, b, e) : temb);
  });
}

at::Tensor spatial_transformer_chunked(nn::Transformer2DModelImpl& t, const at::Tensor& x,
                                       const at::Tensor& context, int64_t chunk) {
  if (nn::checkpointing_active_for(x)) {
    nn::Transformer2DModelImpl* m = &t;
    return nn::checkpointed([m](const auto& in) { return m->forward(in[0], in[1]); }, {x, context});
  }
  if (chunk <= 0 || chunk >= x.size(0)) return t.forward(x, context);
  nn::ScopedLayerWeights adapted(t, x.scalar_type(), /*adapted_only=*/true);  // once, not per chunk
  // Chunks of rows cut across videos: a per-video context (B, F, L, C) becomes one per row.
  const at::Tensor rows = context.defined() && context.dim() == 4
                              ? context.reshape({-1, context.size(2), context.size(3)})
                              : context;
  return memory::map_rows(x.size(0), chunk, [&](int64_t b, int64_t e) {
    return t.forward(x.slice(0, b, e), rows.defined() ? rows.slice(0, b, e) : rows);
  });
}

GroupStats group_stats_by_rows(const at::Tensor& x5, int64_t groups, double eps, int64_t rows) {
  const int64_t b = x5.size(0), c = x5.size(1);
  if (c % groups != 0) throw ShapeError("GroupNorm statistics: channels not divisible by groups");
  const int64_t h = x5.size(3);
  const double count = static_cast<double>(x5.numel() / (b * groups));
  // Pass 1: means; pass 2: centred squares (as stable as the one-piece computation).
  at::Tensor sum = at::zeros({b, groups}, x5.options().dtype(at::kDouble));
  for_row_chunks(h, rows, [&](int64_t r0, int64_t r1) {
    at::Tensor part = x5.slice(3, r0, r1).to(at::kDouble);
    sum += part.reshape({b, groups, -1}).sum(-1);
  });
  at::Tensor mean = sum / count;
  at::Tensor sq = at::zeros({b, groups}, x5.options().dtype(at::kDouble));
  for_row_chunks(h, rows, [&](int64_t r0, int64_t r1) {
    at::Tensor part = x5.slice(3, r0, r1).to(at::kDouble).reshape({b, groups, -1});
    sq += (part - mean.unsqueeze(-1)).pow(2).sum(-1);
  });
  at::Tensor var = sq / count;
  return {mean.to(at::kFloat), (var + eps).rsqrt().to(at::kFloat)};
}

at::Tensor apply_group_norm(const at::Tensor& xs, const GroupStats& s, int64_t groups,
                            const at::Tensor& weight, const at::Tensor& bias) {
  const int64_t b = xs.size(0), c = xs.size(1);
  std::vector<int64_t> grouped{b, groups, c / groups};
  for (int64_t d = 2; d < xs.dim(); ++d) grouped.push_back(xs.size(d));
  std::vector<int64_t> stat_shape{b, groups, 1};
  std::vector<int64_t> affine_shape{1, c};
  for (int64_t d = 2; d < xs.dim(); ++d) {
    stat_shape.push_back(1);
    affine_shape.push_back(1);
  }
  at::Tensor y = xs.to(at::kFloat).reshape(grouped);
  y = ((y - s.mean.view(stat_shape)) * s.rstd.view(stat_shape)).reshape(xs.sizes());
  if (weight.defined()) y = y * weight.to(at::kFloat).view(affine_shape);
  if (bias.defined()) y = y + bias.to(at::kFloat).view(affine_shape);
  return y;
}

at::Tensor temporal_conv_chunked(nn::TemporalConvLayerImpl& layer, const at::Tensor& x, int64_t f,
                                 int64_t chunk) {
  if (nn::checkpointing_active_for(x)) {
    nn::TemporalConvLayerImpl* l = &layer;
    return nn::checkpointed([l, f](const auto& in) { return l->forward(in[0], f); }, {x});
  }
  const int64_t hh = x.size(2), ww = x.size(3);
  if (chunk <= 0 || chunk >= hh * ww) return layer.forward(x, f);
  if (f < 1 || x.size(0) % f != 0) throw ShapeError("temporal conv: batch*frames not a multiple");
  const int64_t b = x.size(0) / f, bf = x.size(0);
  const int64_t rows = rows_for(chunk, ww);
  at::Tensor identity = x.reshape({b, f, x.size(1), hh, ww}).permute({0, 2, 1, 3, 4});
  at::Tensor h = identity;
  for (size_t i = 0; i < layer.convs.size(); ++i) {
    auto& norm = *layer.norms[i];
    GroupStats st = group_stats_by_rows(h, norm.num_groups, norm.eps, rows);
    const int64_t cout = layer.convs[i]->options.out_channels();
    at::Tensor out = at::empty({b, cout, f, hh, ww}, h.options());
    nn::ScopedLayerWeights weights(*layer.convs[i], h.scalar_type());
    for_row_chunks(hh, rows, [&](int64_t r0, int64_t r1) {
      at::Tensor n =
          apply_group_norm(h.slice(3, r0, r1), st, norm.num_groups, norm.weight, norm.bias);
      n = at::silu(n).to(h.scalar_type());
      out.slice(3, r0, r1).copy_(layer.convs[i]->forward(n));
    });
    h = out;
  }
  return (identity + h).permute({0, 2, 1, 3, 4}).reshape({bf, -1, hh, ww});
}

at::Tensor temporal_transformer_chunked(nn::TransformerTemporalModelImpl& t, const at::Tensor& x,
                                        int64_t f, int64_t chunk) {
  if (nn::checkpointing_active_for(x)) {
    nn::TransformerTemporalModelImpl* m = &t;
    return nn::checkpointed([m, f](const auto& in) { return m->forward(in[0], f); }, {x});
  }
  const int64_t c = x.size(1), hh = x.size(2), ww = x.size(3);
  if (chunk <= 0 || chunk >= hh * ww) return t.forward(x, f);
  if (f < 1 || x.size(0) % f != 0)
    throw ShapeError("temporal transformer: batch*frames not a multiple");
  const int64_t b = x.size(0) / f;
  const int64_t rows = rows_for(chunk, ww);
  nn::ScopedLayerWeights adapted(t, x.scalar_type(), /*adapted_only=*/true);  // once, not per chunk
  at::Tensor x5 = x.reshape({b, f, c, hh, ww});                               // (B, F, C, H, W)
  at::Tensor xt = x5.permute({0, 2, 1, 3, 4});                                // (B, C, F, H, W)
  GroupStats st = group_stats_by_rows(xt, t.norm->num_groups, t.norm->eps, rows);
  at::Tensor out = at::empty_like(x5, at::MemoryFormat::Contiguous);
  for_row_chunks(hh, rows, [&](int64_t r0, int64_t r1) {
    const int64_t hr = r1 - r0;
    at::Tensor n =
        apply_group_norm(xt.slice(3, r0, r1), st, t.norm->num_groups, t.norm->weight, t.norm->bias)
            .to(x.scalar_type());
    at::Tensor s = n.permute({0, 3, 4, 2, 1}).reshape({b * hr * ww, f, c});
    s = nn::linear(t.proj_in, s);
    for (const auto& block : *t.transformer_blocks)
      s = block->as<nn::BasicTransformerBlockImpl>()->forward(s);
    s = nn::linear(t.proj_out, s).view({b, hr, ww, f, c}).permute({0, 3, 4, 1, 2});
    out.slice(3, r0, r1).copy_(x5.slice(3, r0, r1) + s);
  });
  return out.view({b * f, c, hh, ww});
}

}  // namespace i2v::unet
