#include "i2v/models/clip/clip_activation.h"

#include <utility>
#include <vector>

#include "i2v/error.h"

namespace i2v::clip {

namespace {

const std::vector<std::pair<std::string, Activation>>& activation_names() {
  static const std::vector<std::pair<std::string, Activation>> names = {
      {"gelu", Activation::Gelu},          {"gelu_python", Activation::Gelu},
      {"gelu_new", Activation::GeluTanh},  {"gelu_pytorch_tanh", Activation::GeluTanh},
      {"gelu_fast", Activation::GeluTanh}, {"gelu_accurate", Activation::GeluTanh},
      {"gelu_10", Activation::Gelu10},     {"quick_gelu", Activation::QuickGelu},
      {"relu", Activation::Relu},          {"relu6", Activation::Relu6},
      {"silu", Activation::Silu},          {"swish", Activation::Silu},
      {"sigmoid", Activation::Sigmoid},    {"tanh", Activation::Tanh},
      {"mish", Activation::Mish},          {"linear", Activation::Linear},
  };
  return names;
}

}  // namespace

Activation parse_activation(const std::string& name, const std::string& source,
                            const std::string& key) {
  for (const auto& [n, act] : activation_names())
    if (n == name) return act;
  std::string list;
  for (const auto& entry : activation_names()) list += (list.empty() ? "" : ", ") + entry.first;
  throw ConfigError(source + ": key '" + key + "' names an unsupported activation '" + name +
                    "' (supported: " + list + ")");
}

at::Tensor apply_activation(Activation act, const at::Tensor& x) {
  switch (act) {
    case Activation::Gelu:
      return at::gelu(x);
    case Activation::GeluTanh:
      // gelu_new / gelu_fast / gelu_accurate are the same formula as torch's tanh GELU, written
      // out in Python; they differ only in rounding.
      return at::gelu(x, "tanh");
    case Activation::Gelu10:
      return at::clamp(at::gelu(x), -10.0, 10.0);
    case Activation::QuickGelu:
      return x * at::sigmoid(x * 1.702);
    case Activation::Relu:
      return at::relu(x);
    case Activation::Relu6:
      return at::hardtanh(x, 0.0, 6.0);
    case Activation::Silu:
      return at::silu(x);
    case Activation::Sigmoid:
      return at::sigmoid(x);
    case Activation::Tanh:
      return at::tanh(x);
    case Activation::Mish:
      return at::mish(x);
    case Activation::Linear:
      return x;
  }
  throw ConfigError("internal error: unknown activation");
}

}  // namespace i2v::clip
