#include "i2v/models/unet/i2vgen_xl_unet.h"
#include "i2v/nn/conv.h"

#include <ATen/ATen.h>

#include "i2v/error.h"
#include "i2v/models/unet/chunked_layers.h"

namespace i2v::unet {
namespace {

std::string shape_str(const at::Tensor& t) {
  std::string s = "(";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + ")";
}

// Runs fn() between the hooks' before/after for `m`.
template <class Fn>
at::Tensor hooked(const memory::BlockHooks* hooks, torch::nn::Module& m, Fn&& fn) {
  if (hooks && hooks->before) hooks->before(m);
  at::Tensor out = fn();
  if (hooks && hooks->after) hooks->after(m);
  return out;
}

}  // namespace

I2VGenXLUNetImpl::I2VGenXLUNetImpl(const UNetConfig& c) : config_(c) {
  const int64_t c0 = c.block_out_channels.front();
  const int64_t temb = c.time_embed_dim();
  const int64_t cin = c.in_channels;
  time_embedding = register_module("time_embedding", Mlp(c0, temb, temb, true));
  fps_embedding = register_module("fps_embedding", Mlp(c0, temb, temb, false));
  context_embedding = register_module(
      "context_embedding", Mlp(c.cross_attention_dim, temb, c.cross_attention_dim * cin, false));
  image_latents_proj_in = register_module("image_latents_proj_in", ImageLatentsProjIn(cin));
  image_latents_temporal_encoder =
      register_module("image_latents_temporal_encoder", TemporalEncoder(cin, 2, cin));
  image_latents_context_embedding = register_module(
      "image_latents_context_embedding", ImageLatentsContextEmbedding(cin, c.cross_attention_dim));
  conv_in = register_module("conv_in",
                            torch::nn::Conv2d(torch::nn::Conv2dOptions(cin * 2, c0, 3).padding(1)));
  transformer_in = register_module(
      "transformer_in", nn::TransformerTemporalModel(c0, 8, c.head_size(), c.norm_num_groups));

  BlockSettings s{temb, c.norm_num_groups, c.head_size(), c.cross_attention_dim, c.layers_per_block,
                  true};
  const size_t n = c.block_out_channels.size();
  auto downs = register_module("down_blocks", torch::nn::ModuleList());
  int64_t out = c0;
  for (size_t i = 0; i < n; ++i) {
    const int64_t in = out;
    out = c.block_out_channels[i];
    s.cross_attention = c.down_block_types[i] == "CrossAttnDownBlock3D";
    down_blocks.emplace_back(in, out, s, /*add_downsample=*/i + 1 < n);
    downs->push_back(down_blocks.back());
  }
  BlockSettings mid = s;
  mid.num_layers = 1;
  mid_block = register_module("mid_block", MidBlock3D(c.block_out_channels.back(), mid));

  auto ups = register_module("up_blocks", torch::nn::ModuleList());
  std::vector<int64_t> rev(c.block_out_channels.rbegin(), c.block_out_channels.rend());
  out = rev.front();
  BlockSettings up = s;
  up.num_layers = c.layers_per_block + 1;
  for (size_t i = 0; i < n; ++i) {
    const int64_t prev = out;
    out = rev[i];
    const int64_t in = rev[std::min(i + 1, n - 1)];
    up.cross_attention = c.up_block_types[i] == "CrossAttnUpBlock3D";
    up_blocks.emplace_back(in, prev, out, up, /*add_upsample=*/i + 1 < n);
    ups->push_back(up_blocks.back());
  }
  conv_norm_out = register_module("conv_norm_out", nn::GroupNorm32(c.norm_num_groups, c0, 1e-5));
  conv_out = register_module(
      "conv_out", torch::nn::Conv2d(torch::nn::Conv2dOptions(c0, c.out_channels, 3).padding(1)));
}

void I2VGenXLUNetImpl::check_inputs(const UNetInputs& in) const {
  auto fail = [](const std::string& what) { throw ShapeError("UNet input: " + what); };
  if (!in.sample.defined() || in.sample.dim() != 5 || in.sample.size(1) != config_.in_channels) {
    fail("sample must be (B, " + std::to_string(config_.in_channels) + ", F, h, w), got " +
         (in.sample.defined() ? shape_str(in.sample) : "nothing"));
  }
  if (!in.image_latents.defined() || in.image_latents.sizes() != in.sample.sizes()) {
    fail("image_latents must have the sample's shape " + shape_str(in.sample));
  }
  if (in.context_image_latents.defined() &&
      in.context_image_latents.sizes() != in.image_latents.select(2, 0).sizes()) {
    fail("context_image_latents must be (B, C, h, w) like one frame of image_latents");
  }
  const int64_t b = in.sample.size(0);
  if (!in.encoder_hidden_states.defined() || in.encoder_hidden_states.dim() != 3 ||
      in.encoder_hidden_states.size(0) != b ||
      in.encoder_hidden_states.size(2) != config_.cross_attention_dim) {
    fail("encoder_hidden_states must be (B, L, " + std::to_string(config_.cross_attention_dim) +
         ")");
  }
  if (!in.image_embeddings.defined() || in.image_embeddings.dim() != 3 ||
      in.image_embeddings.size(0) != b ||
      in.image_embeddings.size(2) != config_.cross_attention_dim) {
    fail("image_embeddings must be (B, 1, " + std::to_string(config_.cross_attention_dim) + ")");
  }
  if (!in.fps.defined() || in.fps.numel() != b) fail("fps must have one value per batch item");
  if (!in.timestep.defined() || (in.timestep.numel() != 1 && in.timestep.numel() != b)) {
    fail("timestep must be a scalar or one value per batch item");
  }
}

at::Tensor I2VGenXLUNetImpl::time_embedding_of(const at::Tensor& timestep, const at::Tensor& fps,
                                               int64_t batch, int64_t num_frames,
                                               at::ScalarType dtype, const UNetTrace& trace) {
  const int64_t c0 = config_.block_out_channels.front();
  at::Tensor t = timestep.reshape({-1}).expand({batch});
  at::Tensor t_proj = timestep_projection(t, c0);
  at::Tensor fps_proj = timestep_projection(fps.reshape({-1}), c0);
  if (trace) {
    trace("time_proj.call0.out", t_proj);
    trace("time_proj.call1.out", fps_proj);
  }
  at::Tensor t_emb = time_embedding->forward(t_proj.to(dtype));
  at::Tensor fps_emb = fps_embedding->forward(fps_proj.to(dtype));
  if (trace) {
    trace("time_embedding.out", t_emb);
    trace("fps_embedding.out", fps_emb);
  }
  return (t_emb + fps_emb).repeat_interleave(num_frames, 0);
}

at::Tensor I2VGenXLUNetImpl::context_of(const UNetInputs& in, const UNetTrace& trace) {
  const int64_t num_frames = in.sample.size(2);
  // Image-latent tokens from the first frame: (B, X, 8, 8) -> (B, 64, X).
  at::Tensor first =
      in.context_image_latents.defined() ? in.context_image_latents : in.image_latents.select(2, 0);
  at::Tensor latent_tokens = image_latents_context_embedding->forward(first);
  if (trace) trace("image_latents_context_embedding.out", latent_tokens);
  const int64_t b = latent_tokens.size(0), x = latent_tokens.size(1);
  latent_tokens = latent_tokens.permute({0, 2, 3, 1}).reshape({b, -1, x});
  // CLIP image tokens: (B, 1, X) -> (B, in_channels, X).
  at::Tensor image_tokens = context_embedding->forward(in.image_embeddings);
  if (trace) trace("context_embedding.out", image_tokens);
  image_tokens = image_tokens.view({-1, config_.in_channels, config_.cross_attention_dim});
  at::Tensor context =
      at::cat({in.encoder_hidden_states, latent_tokens.to(in.encoder_hidden_states.scalar_type()),
               image_tokens.to(in.encoder_hidden_states.scalar_type())},
              1);
  // The same tokens for every frame: (B, F, L, X) as a free expand; the cross-attentions project
  // them once per video (nn/attention.h).
  return context.unsqueeze(1).expand({-1, num_frames, -1, -1});
}

std::vector<torch::nn::Module*> I2VGenXLUNetImpl::top_level_blocks() {
  std::vector<torch::nn::Module*> blocks{transformer_in.get()};
  for (auto& b : down_blocks) blocks.push_back(b.get());
  blocks.push_back(mid_block.get());
  for (auto& b : up_blocks) blocks.push_back(b.get());
  return blocks;
}

at::Tensor I2VGenXLUNetImpl::forward(const UNetInputs& in, const UNetTrace& trace,
                                     const memory::ExecPlan& plan,
                                     const memory::BlockHooks* hooks) {
  check_inputs(in);
  const int64_t b = in.sample.size(0), c = in.sample.size(1), f = in.sample.size(2);
  const int64_t h = in.sample.size(3), w = in.sample.size(4);
  const at::ScalarType dtype = in.sample.scalar_type();

  at::Tensor emb = time_embedding_of(in.timestep, in.fps, b, f, dtype, trace);
  at::Tensor context = context_of(in, trace);
  if (trace) trace("down_blocks.0.in.temb", emb);
  if (trace)  // as diffusers has it: one row per frame
    trace("down_blocks.0.in.encoder_hidden_states",
          context.reshape({-1, context.size(2), context.size(3)}));

  // Image latents: per-frame convs, then attention over frames at each position.
  at::Tensor lat = in.image_latents.permute({0, 2, 1, 3, 4}).reshape({b * f, c, h, w});
  lat = image_latents_proj_in->forward(lat);
  if (trace) trace("image_latents_proj_in.out", lat);
  lat = lat.reshape({b, f, c, h, w}).permute({0, 3, 4, 1, 2}).reshape({b * h * w, f, c});
  lat = image_latents_temporal_encoder->forward(lat);
  if (trace) trace("image_latents_temporal_encoder.out", lat);
  lat = lat.reshape({b, h, w, f, c}).permute({0, 4, 3, 1, 2});  // (B, C, F, h, w)

  at::Tensor x =
      at::cat({in.sample, lat}, 1).permute({0, 2, 1, 3, 4}).reshape({b * f, 2 * c, h, w});
  x = memory::map_rows(x.size(0), plan.frame_chunk, [&](int64_t b0, int64_t e0) {
    return nn::conv2d(conv_in, x.slice(0, b0, e0));
  });
  if (trace) trace("conv_in.out", x);
  x = hooked(hooks, *transformer_in, [&] {
    return temporal_transformer_chunked(*transformer_in, x, f, plan.temporal_chunk);
  });
  if (trace) trace("transformer_in.out.0", x);

  std::vector<at::Tensor> skips{x};
  for (size_t i = 0; i < down_blocks.size(); ++i) {
    x = hooked(hooks, *down_blocks[i],
               [&] { return down_blocks[i]->forward(x, emb, context, f, skips, plan); });
    if (trace) trace("down_blocks." + std::to_string(i) + ".out.0", x);
  }
  x = hooked(hooks, *mid_block, [&] { return mid_block->forward(x, emb, context, f, plan); });
  if (trace) trace("mid_block.out", x);

  // Sizes that are not a multiple of the overall upsampling factor make each upsampler resize to
  // the next skip's exact size instead of doubling.
  const int64_t factor = int64_t{1} << (up_blocks.size() - 1);
  const bool explicit_size = h % factor != 0 || w % factor != 0;
  for (size_t i = 0; i < up_blocks.size(); ++i) {
    const bool last = i + 1 == up_blocks.size();
    std::optional<std::vector<int64_t>> size;
    if (!last && explicit_size) {
      const at::Tensor& next = skips[skips.size() - up_blocks[i]->num_layers() - 1];
      size = std::vector<int64_t>{next.size(2), next.size(3)};
    }
    x = hooked(hooks, *up_blocks[i],
               [&] { return up_blocks[i]->forward(x, emb, context, f, skips, size, plan); });
    if (trace) trace("up_blocks." + std::to_string(i) + ".out", x);
  }
  if (trace) {
    x = conv_norm_out->forward(x);
    trace("conv_norm_out.out", x);
    x = nn::conv2d(conv_out, at::silu(x));
    trace("conv_out.out", x);
  } else {
    // GroupNorm of a 4-D (B*F, C, h, w) tensor is per frame: chunkable like the convs.
    x = memory::map_rows(x.size(0), plan.frame_chunk, [&](int64_t b0, int64_t e0) {
      return nn::conv2d(conv_out, at::silu(conv_norm_out->forward(x.slice(0, b0, e0))));
    });
  }
  if (hooks && hooks->after) hooks->after(*this);  // whatever else the forward touched
  return x.reshape({b, f, -1, h, w}).permute({0, 2, 1, 3, 4});
}

}  // namespace i2v::unet
