// `i2v quantize`: a copy of a model folder whose chosen components hold 8-bit weights
// (quant/weight_format.h; which tensors: quant/skip_list.h). Streams one tensor at a time, so
// memory stays bounded by the largest tensor whatever the model's size; the other components'
// files are hard-linked (or copied) unchanged.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "i2v/quant/weight_format.h"
#include "i2v/weights/weight_files.h"

namespace i2v::modelgen {

struct QuantizeOptions {
  std::string model;              // a pipeline folder or cached repo id
  std::filesystem::path out_dir;  // must not exist (or be empty) unless overwrite
  quant::WeightFormat format = quant::WeightFormat::Int8;
  std::vector<std::string> components{"unet"};  // of unet, text_encoder, image_encoder
  // Which of the source's weight files to read (Auto: the full-precision ones when present).
  weights::VariantMode variant = weights::VariantMode::Auto;
  bool overwrite = false;
};

struct QuantizeReport {
  std::string component;
  int64_t quantized = 0, kept = 0;  // tensors
  int64_t quantized_parameters = 0, parameters = 0;
  uint64_t bytes_before = 0, bytes_after = 0;  // of the component's weight files
  double seconds = 0;
};

// Writes the quantized model into `<out_dir>.partial` and renames it into place when complete
// (a failure, e.g. a full disk, leaves nothing behind). ConfigError for bad options or a source
// that is already quantized; IoError / FormatError for the files.
std::vector<QuantizeReport> quantize_model(const QuantizeOptions& options);

}  // namespace i2v::modelgen
