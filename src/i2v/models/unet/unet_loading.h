// Building the I2VGen-XL UNet from a pipeline folder's "unet" component with a strict load, like
// the other three models (clip_loading.h, vae_loading.h). The module is constructed inside a
// ConstructionArena (its random initialisation would cost 5.7 GB in fp32) and every parameter
// and buffer is then replaced by a view of the memory-mapped files.
#pragma once

#include <ATen/ATen.h>

#include <optional>

#include "i2v/models/unet/i2vgen_xl_unet.h"
#include "i2v/weights/model_dir.h"
#include "i2v/weights/weight_files.h"

namespace i2v::unet {

struct UNetLoadOptions {
  // Compute dtype (kFloat, kBFloat16, or kHalf on CUDA): picks the variant files, and is the
  // dtype of the loaded tensors unless keep_stored_dtype applies.
  at::ScalarType dtype = at::kFloat;
  weights::VariantMode variant = weights::VariantMode::Auto;
  // Files holding one float precision keep it (views of the files, no conversion): the caller
  // casts per block while it runs (memory::WeightStager). Files mixing precisions are converted
  // to `dtype` whole.
  bool keep_stored_dtype = true;
};

struct LoadedUNet {
  I2VGenXLUNet unet{nullptr};
  // The float dtype the tensors hold (the files' own when kept, else options.dtype).
  at::ScalarType stored_dtype = at::kFloat;
  // The files' 8-bit format when they hold quantized weights (`i2v quantize`). With
  // keep_stored_dtype those stay 8-bit (the caller dequantizes per block: WeightStager);
  // otherwise they are dequantized into `dtype` at load.
  std::optional<quant::WeightFormat> weight_format;
  bool kept_8bit = false;  // the parameters hold the 8-bit bytes
};

// ShapeError listing every missing / unexpected / mis-shaped tensor; ConfigError for a bad
// config; IoError / FormatError for the files.
LoadedUNet load_i2vgen_xl_unet(const weights::ModelDir& pipeline,
                               const UNetLoadOptions& options = {});

}  // namespace i2v::unet
