// What the memory estimator needs to know about a model folder, read from its configs and the
// safetensors headers only (nothing is loaded): channel widths and the weight bytes each
// component will keep resident in the compute dtype.
#pragma once

#include <ATen/ATen.h>

#include "i2v/memory/estimator.h"
#include "i2v/weights/model_dir.h"

namespace i2v::pipeline {

memory::ModelFacts model_facts(const weights::ModelDir& dir, at::ScalarType compute_dtype,
                               weights::VariantMode variant = weights::VariantMode::Auto);

}  // namespace i2v::pipeline
