#include "i2v/nn/upsample_conv.h"

#include <ATen/Parallel.h>

#include <string>
#include <vector>

#include "i2v/kernels/packed_weights.h"

namespace i2v::nn {
namespace {

// Along `dim` (size 3): phase 0 reads input offsets (-1, 0) with taps (t0, t1 + t2), phase 1
// reads (0, +1) with taps (t0 + t1, t2).
at::Tensor combine(const at::Tensor& t, int phase, int64_t dim) {
  const at::Tensor t0 = t.select(dim, 0), t1 = t.select(dim, 1), t2 = t.select(dim, 2);
  return phase == 0 ? at::stack({t0, t1 + t2}, dim) : at::stack({t0 + t1, t2}, dim);
}

}  // namespace

at::Tensor upsample_phase_kernels(const at::Tensor& w) {
  const at::Tensor f = w.scalar_type() == at::kDouble ? w : w.to(at::kFloat);
  std::vector<at::Tensor> kernels;
  for (int a = 0; a < 2; ++a) {
    const at::Tensor rows = combine(f, a, 2);                            // (O, C, 2, 3)
    for (int b = 0; b < 2; ++b) kernels.push_back(combine(rows, b, 3));  // (O, C, 2, 2)
  }
  return at::cat(kernels, 0);
}

namespace {

// The phase kernels in bf16 in one pass over w: the same float32 sums (rows first, then
// columns, at most two terms each) rounded once, so bit-identical to
// upsample_phase_kernels(w).to(bf16), without its float32 copies (the stack / cat / to chain cost
// 0.3 s per UNet forward).
at::Tensor phase_kernels_bf16(const at::Tensor& weight) {
  const at::Tensor w = weight.to(at::kFloat).contiguous();
  const int64_t o = w.size(0), c = w.size(1);
  at::Tensor out = at::empty({4 * o, c, 2, 2}, weight.options().dtype(at::kBFloat16));
  const float* src = w.data_ptr<float>();
  at::BFloat16* dst = out.data_ptr<at::BFloat16>();
  // Along one axis, phase p's tap t sums the 3x3 taps first[p][t] .. last[p][t].
  static const int first[2][2] = {{0, 1}, {0, 2}}, last[2][2] = {{0, 2}, {1, 2}};
  at::parallel_for(0, o * c, 4096, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const float* k = src + i * 9;
      for (int a = 0; a < 2; ++a) {
        float rows[2][3];
        for (int r = 0; r < 2; ++r) {
          for (int col = 0; col < 3; ++col) {
            float sum = k[first[a][r] * 3 + col];
            if (last[a][r] != first[a][r]) sum = sum + k[last[a][r] * 3 + col];
            rows[r][col] = sum;
          }
        }
        for (int b = 0; b < 2; ++b) {
          at::BFloat16* out_k = dst + ((2 * a + b) * o * c + i) * 4;
          for (int r = 0; r < 2; ++r) {
            for (int t = 0; t < 2; ++t) {
              float sum = rows[r][first[b][t]];
              if (last[b][t] != first[b][t]) sum = sum + rows[r][last[b][t]];
              out_k[r * 2 + t] = at::BFloat16(sum);
            }
          }
        }
      }
    }
  });
  return out;
}

}  // namespace

at::Tensor upsample2x_conv3x3(const at::Tensor& x, const at::Tensor& w, const at::Tensor& bias,
                              const Conv2x2& conv, bool persistent_weight) {
  const int64_t n = x.size(0), h = x.size(2), wd = x.size(3), o = w.size(0);
  auto make_kernels = [&] {
    return x.scalar_type() == at::kBFloat16 && w.device().is_cpu()
               ? phase_kernels_bf16(w)
               : upsample_phase_kernels(w).to(x.scalar_type()).contiguous();
  };
  const at::Tensor kernels =
      persistent_weight
          ? kernels::derived_weight(
                w, std::string("upsample phases ") + c10::toString(x.scalar_type()), make_kernels)
          : make_kernels();
  const at::Tensor bias4 = bias.defined() ? bias.repeat({4}) : bias;
  const at::Tensor y = conv(x, kernels, bias4);  // (N, 4·O, H+1, W+1)
  if (!y.defined()) return y;
  at::Tensor out =
      at::empty({n, o, 2 * h, 2 * wd}, x.options().memory_format(at::MemoryFormat::ChannelsLast));
  // out[n, c, 2i+a, 2j+b] = y[n, (2a+b)·O + c, i+a, j+b], written through the NHWC view.
  const at::Tensor out6 = out.permute({0, 2, 3, 1}).view({n, h, 2, wd, 2, o});
  for (int a = 0; a < 2; ++a) {
    for (int b = 0; b < 2; ++b) {
      const at::Tensor phase =
          y.narrow(1, (2 * a + b) * o, o).narrow(2, a, h).narrow(3, b, wd).permute({0, 2, 3, 1});
      out6.select(4, b).select(2, a).copy_(phase);
    }
  }
  return out;
}

}  // namespace i2v::nn
