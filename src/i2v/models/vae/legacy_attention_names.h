// Old diffusers exports (before the Attention refactor) name the VAE mid-block attention weights
// query / key / value / proj_attn instead of to_q / to_k / to_v / to_out.0, and some conversions
// store those matrices as 1x1 convolutions [C, C, 1, 1]. diffusers 0.31 renames them on load;
// this does the same, keeping the load strict.
#pragma once

#include <torch/nn/module.h>

#include <string>

#include "i2v/weights/state_dict.h"

namespace i2v::vae {

// Whether any tensor of `weights` uses the old attention names.
bool has_legacy_attention_names(const weights::StateDict& weights);

// load_state_dict_strict, except that each attention parameter "<...>.attentions.<i>.to_q.weight"
// (and so on) is read from its old name when the files lack the new one, squeezing a [C, C, 1, 1]
// matrix to [C, C]. Missing, unexpected and mis-shaped tensors are reported under the files' names.
void load_with_legacy_attention_names(torch::nn::Module& module, const weights::StateDict& weights,
                                      const std::string& component,
                                      const weights::LoadOptions& options);

}  // namespace i2v::vae
