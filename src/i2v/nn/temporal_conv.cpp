#include "i2v/nn/temporal_conv.h"

#include <ATen/ATen.h>
#include <ATen/record_function.h>
#include <torch/nn/modules/container/modulelist.h>

#include "i2v/kernels/onednn_gemm.h"
#include "i2v/nn/autograd.h"
#include "i2v/nn/layer_weight.h"
#include "i2v/nn/placeholder.h"
#include "i2v/nn/shape_check.h"

namespace i2v::nn {

TemporalConvLayerImpl::TemporalConvLayerImpl(int64_t in_channels, int64_t out_channels,
                                             int64_t groups) {
  if (out_channels <= 0) out_channels = in_channels;
  for (int stage = 1; stage <= 4; ++stage) {
    const int64_t cin = stage == 1 ? in_channels : out_channels;
    const int64_t cout = stage == 1 ? out_channels : in_channels;
    GroupNorm32 norm(groups, cin, 1e-5);
    torch::nn::Conv3d conv(torch::nn::Conv3dOptions(cin, cout, {3, 1, 1}).padding({1, 0, 0}));
    // Stage 1 is [norm, silu, conv]; stages 2-4 have a dropout before the conv.
    torch::nn::ModuleList seq(norm, Placeholder(), conv);
    if (stage > 1) seq = torch::nn::ModuleList(norm, Placeholder(), Placeholder(), conv);
    register_module("conv" + std::to_string(stage), seq);
    norms.push_back(norm);
    convs.push_back(conv);
  }
}

at::Tensor TemporalConvLayerImpl::forward(const at::Tensor& x, int64_t num_frames) {
  require_nchw(x, norms.front()->channels, "temporal conv");
  const int64_t bf = x.size(0), c = x.size(1), height = x.size(2), width = x.size(3);
  const int64_t b = require_frames(x, num_frames, "temporal conv");
  const int64_t s = height * width;
  // Token-major (B, F*H*W, C): a free view of channels-last input, else one transposing copy.
  // In this layout every frame's tokens are one contiguous block, so a (3, 1, 1) convolution is
  // three matrix products over whole runs of frames (no Conv3d, which libtorch 1.13 runs on a
  // slow generic path), and the group norms read the same memory.
  at::Tensor h = x.permute({0, 2, 3, 1}).reshape({b, num_frames * s, c});
  for (size_t i = 0; i < convs.size(); ++i) {
    h = mix_frames(norms[i]->forward_tokens(h, /*silu=*/true), i, num_frames);
  }
  // The sum takes x's layout; the token-major result is read through a permuted view.
  return x + h.view({bf, height, width, c}).permute({0, 3, 1, 2});
}

at::Tensor TemporalConvLayerImpl::mix_frames(const at::Tensor& h, size_t i, int64_t num_frames) {
  // (C_out, C_in, 3, 1, 1); 8-bit weights dequantized for this call.
  const at::Tensor weight = layer_weight(convs[i]->weight, h.scalar_type());
  // One profiler/census entry (a convolution) for the three products below.
  RECORD_FUNCTION("i2v::temporal_conv", std::vector<c10::IValue>({h, weight, num_frames}));
  const int64_t b = h.size(0), cin = h.size(2), cout = weight.size(0);
  const int64_t s = h.size(1) / num_frames;
  auto tap_nk = [&](int64_t k) {  // (C_out, C_in) for frame offset k - 1: a view, no copy
    return weight.select(2, k).reshape({cout, cin});
  };
  auto tap = [&](int64_t k) { return tap_nk(k).contiguous().t(); };  // (C_in, C_out) for aten
  const at::Tensor& bias = convs[i]->bias;
  const bool persistent = weight.is_same(convs[i]->weight);  // not a dequantized copy
  if (needs_graph(h)) {  // differentiable: frame f sums taps k on frames f + k - 1 (zero outside)
    const at::Tensor padded =
        at::constant_pad_nd(h.reshape({b, num_frames, s, cin}), {0, 0, 0, 0, 1, 1});
    const at::Tensor y = at::linear(padded.narrow(1, 1, num_frames), tap_nk(1), bias) +
                         at::linear(padded.narrow(1, 0, num_frames), tap_nk(0)) +
                         at::linear(padded.narrow(1, 2, num_frames), tap_nk(2));
    return y.reshape({b, num_frames * s, cout});
  }
  const at::Tensor h2 = h.reshape({-1, cin});
  // out (+)= rows . tap^T: oneDNN on reordered weights where it can, else libtorch.
  auto product = [&](const at::Tensor& rows, int64_t k, const at::Tensor& b, at::Tensor& dst,
                     bool accumulate) {
    if (kernels::onednn_gemm(rows, tap_nk(k), b, dst, accumulate, persistent)) return;
    if (accumulate) {
      dst.addmm_(rows, tap(k));
    } else if (b.defined()) {
      at::addmm_out(dst, b, rows, tap(k));
    } else {
      at::mm_out(dst, rows, tap(k));
    }
  };
  at::Tensor out = at::empty({h2.size(0), cout}, h.options());
  product(h2, 1, bias, out, false);
  out = out.view({b, -1, cout});
  if (num_frames > 1) {
    const int64_t rows = (num_frames - 1) * s;
    for (int64_t j = 0; j < b; ++j) {
      const at::Tensor hj = h.select(0, j);
      at::Tensor oj = out.select(0, j);
      at::Tensor later = oj.narrow(0, s, rows), earlier = oj.narrow(0, 0, rows);
      product(hj.narrow(0, 0, rows), 0, at::Tensor(), later, true);    // frame f-1 -> f
      product(hj.narrow(0, s, rows), 2, at::Tensor(), earlier, true);  // frame f+1 -> f
    }
  }
  return out;
}

}  // namespace i2v::nn
