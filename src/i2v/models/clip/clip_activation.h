// The activation functions transformers' ACT2FN offers under the names a CLIP config.json can
// give as "hidden_act".
#pragma once

#include <ATen/ATen.h>

#include <string>

namespace i2v::clip {

enum class Activation {
  Gelu,       // "gelu", "gelu_python": exact, erf based
  GeluTanh,   // "gelu_new", "gelu_pytorch_tanh", "gelu_fast", "gelu_accurate": tanh approximation
  Gelu10,     // "gelu_10": exact GELU clipped to [-10, 10]
  QuickGelu,  // "quick_gelu": x * sigmoid(1.702 x) (OpenAI CLIP)
  Relu,       // "relu"
  Relu6,      // "relu6"
  Silu,       // "silu", "swish"
  Sigmoid,    // "sigmoid"
  Tanh,       // "tanh"
  Mish,       // "mish"
  Linear,     // "linear": identity
};

// Parses an ACT2FN name; ConfigError naming `source`, the key and the supported names otherwise.
Activation parse_activation(const std::string& name, const std::string& source,
                            const std::string& key = "hidden_act");

// Applies the activation in the tensor's own dtype.
at::Tensor apply_activation(Activation act, const at::Tensor& x);

}  // namespace i2v::clip
