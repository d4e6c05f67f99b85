#include "i2v/nn/temporal_conv.h"

#include <ATen/ATen.h>
#include <torch/nn/modules/container/modulelist.h>

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
  const int64_t bf = x.size(0);
  const int64_t b = require_frames(x, num_frames, "temporal conv");
  at::Tensor identity = x.reshape({b, num_frames, x.size(1), x.size(2), x.size(3)})
                            .permute({0, 2, 1, 3, 4});  // (B, C, F, H, W)
  at::Tensor h = identity;
  for (size_t i = 0; i < convs.size(); ++i) h = convs[i]->forward(at::silu(norms[i]->forward(h)));
  h = identity + h;
  return h.permute({0, 2, 1, 3, 4}).reshape({bf, -1, x.size(2), x.size(3)});
}

}  // namespace i2v::nn
