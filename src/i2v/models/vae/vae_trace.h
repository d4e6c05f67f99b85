// An optional observer of named intermediate tensors ("encoder.conv_in.out", ...), so tests and
// debugging tools can compare a forward pass stage by stage with the reference.
#pragma once

#include <ATen/ATen.h>

#include <functional>
#include <string>

namespace i2v::vae {

using TraceFn = std::function<void(const std::string& name, const at::Tensor& value)>;

inline void trace(const TraceFn* fn, const std::string& name, const at::Tensor& value) {
  if (fn && *fn) (*fn)(name, value);
}

}  // namespace i2v::vae
