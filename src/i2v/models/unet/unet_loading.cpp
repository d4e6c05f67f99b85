#include "i2v/models/unet/unet_loading.h"

#include "i2v/memory/construction_arena.h"
#include "i2v/weights/state_dict.h"

namespace i2v::unet {

LoadedUNet load_i2vgen_xl_unet(const weights::ModelDir& dir, const UNetLoadOptions& options) {
  const auto config = UNetConfig::from_json(dir.config("unet"), dir.config_path("unet").string());
  LoadedUNet out;
  {
    memory::ConstructionArena arena;
    out.unet = I2VGenXLUNet(config);
  }
  weights::VariantPolicy policy;
  policy.mode = options.variant;
  policy.compute_dtype = options.dtype;
  weights::StateDict files = dir.open_weights("unet", policy);
  const std::optional<at::ScalarType> stored = files.float_dtype();
  weights::LoadOptions load;
  load.dtype = options.keep_stored_dtype && stored ? *stored : options.dtype;
  load.keep_8bit = options.keep_stored_dtype;
  out.weight_format = files.quantized_format();
  out.kept_8bit = out.weight_format.has_value() && load.keep_8bit;
  // Outside the arena: every tensor is replaced by the files' (strict: nothing left unset).
  weights::load_state_dict_strict(*out.unet, files, "unet", load);
  out.unet->eval();
  out.stored_dtype = *load.dtype;
  return out;
}

}  // namespace i2v::unet
