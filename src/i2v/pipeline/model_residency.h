// ModelResidency: where the pipeline's four models keep their weights, and a scoped lease that
// puts one model's weights where its stage computes. Weights have their home in host memory in
// the stored precision (views of the mapped files); a Lease stages them (memory::WeightStager:
// cast and/or copied to the device) as the plan's residency says, and when the last lease of a
// model ends it unstages them (unless a GPU plan keeps everything resident), drops the model's
// file pages from the resident set (they fault back in from the page cache) and frees encoders
// whose weights had to be converted (reloaded at their next lease).
//
// The UNet is different: its lease covers the denoising loop, and under streaming or per-block
// casting its top-level blocks are staged one at a time while the forward runs (block_hooks).
#pragma once

#include <torch/nn/module.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "i2v/kernels/packed_weights.h"
#include "i2v/lora/attachment.h"
#include "i2v/memory/exec_plan.h"
#include "i2v/memory/mapped_weights.h"
#include "i2v/memory/weight_stager.h"

namespace i2v::pipeline {

enum class Model { TextEncoder, ImageEncoder, Vae, UNet };
std::string to_string(Model m);  // "text_encoder", "image_encoder", "vae", "unet"

class ModelResidency {
 public:
  using Loader = std::function<std::shared_ptr<torch::nn::Module>()>;

  ModelResidency() = default;
  explicit ModelResidency(memory::WeightStager::Options staging);

  // Registers a loaded model. With `reload`, a model whose weights are not views of the files
  // (converted) is freed now and after each last lease, and loaded again at the next lease: the
  // process never holds two converted models beside each other (fp32 from bf16 files: 3.9 GB of
  // encoders).
  void add(Model which, std::shared_ptr<torch::nn::Module> module, Loader reload = {});
  // An encoder made of repeated layers: `layers` lists them, `attach` installs hooks run around
  // each (empty hooks remove them). With it, CPU streaming runs the encoder layer by layer (each
  // layer staged when it needs a cast, its file pages dropped after it ran): about one layer is
  // resident instead of the whole encoder.
  struct Layered {
    std::function<std::vector<torch::nn::Module*>(torch::nn::Module&)> layers;
    std::function<void(torch::nn::Module&, memory::BlockHooks)> attach;
  };
  void set_layered(Model which, Layered layered);
  // The UNet: `blocks` are the top-level blocks its forward brackets with BlockHooks; with
  // `cast_per_block` they keep the stored precision and are cast while they run (everything
  // outside them is converted now, for good).
  void add_unet(std::shared_ptr<torch::nn::Module> unet, std::vector<torch::nn::Module*> blocks,
                bool cast_per_block);

  class Lease {
   public:
    Lease(Lease&& o) noexcept;
    Lease& operator=(Lease&&) = delete;
    Lease(const Lease&) = delete;
    ~Lease();
    template <class M>
    M& as() const {
      return static_cast<M&>(*module_);
    }

   private:
    friend class ModelResidency;
    Lease(ModelResidency* owner, Model which, memory::Residency residency,
          std::shared_ptr<torch::nn::Module> module);
    ModelResidency* owner_;
    Model which_;
    memory::Residency residency_;
    std::shared_ptr<torch::nn::Module> module_;
  };

  // The model's weights staged for a stage running under `plan` (loaded first if it was freed).
  // Leases nest: the weights stay staged until the last one ends.
  Lease lease(Model which, const memory::ExecPlan& plan);

  // Hooks for the UNet's forward under `plan`: each block staged just before it runs (the next
  // one prefetched on a GPU) and unstaged after; on CPU streaming its file pages dropped too.
  // nullopt when there is nothing to do per block.
  std::optional<memory::BlockHooks> block_hooks(const memory::ExecPlan& plan);

  bool unet_cast_per_block() const { return unet_cast_per_block_; }

  // The UNet's and the VAE's packed weights (Residency::Packed on CPU) after their lease ends:
  // kept for the next generation (the default; a lease of another residency, or LoRA adapters
  // set on the model, drops them) or freed at once. Their bytes now (0: none held).
  void set_keep_packed_weights(bool keep) { keep_packed_ = keep; }
  int64_t packed_weight_bytes() const;

  // LoRA adapters put onto a model at the start of each of its leases (after staging) and taken
  // off when the last lease ends; null removes them. Auto mode merges plain weights and applies
  // 8-bit ones unmerged, except under the stream plan, where everything stays unmerged (merged
  // copies would hold every adapted weight). The caller keeps `adapters` alive while set.
  void set_adapters(Model which, const lora::ComponentAdapters* adapters, lora::Mode mode);
  // How the adapters of each model were applied since set_adapters ("merged", "unmerged", or
  // both joined by '+'), for the run's metadata.
  std::map<std::string, std::string> adapter_modes() const;

  // Bytes of weights per model as loaded, and how much of it views the mapped files.
  struct Weights {
    int64_t bytes = 0, mapped_bytes = 0;
  };
  std::map<std::string, Weights> weights() const;

 private:
  struct Slot {
    std::shared_ptr<torch::nn::Module> module;  // null while freed
    Loader reload;
    memory::MappedWeights pages;
    Weights weights;
    int leases = 0;
    Layered layered;
    bool layer_hooks = false;  // the current lease runs layer by layer
    std::map<const torch::nn::Module*, memory::MappedWeights> layer_pages;
    const lora::ComponentAdapters* adapters = nullptr;
    lora::Mode adapter_mode = lora::Mode::Auto;
    std::unique_ptr<lora::Attachment> attachment;
    std::string modes_used;
    // Residency::Packed on CPU (UNet, VAE): the packed weights, in use while a lease lasts and
    // kept after it (keep_packed_).
    std::unique_ptr<kernels::PackedWeights> packed;
    std::unique_ptr<kernels::PackedWeightScope> packed_scope;
  };
  void adopt(Slot& slot, std::shared_ptr<torch::nn::Module> module);
  void begin(Model which, Slot& slot, memory::Residency residency);
  void end(Model which, memory::Residency residency);
  void open_packed(Model which, Slot& slot, memory::Residency residency);
  void drop_packed(Slot& slot);
  void drop_packed_weights();  // every model's
  const memory::MappedWeights& pages_of(torch::nn::Module& block);

  memory::WeightStager stager_;
  std::map<Model, Slot> slots_;
  std::vector<torch::nn::Module*> unet_blocks_;
  std::map<const torch::nn::Module*, memory::MappedWeights> block_pages_;
  bool unet_cast_per_block_ = false;
  bool keep_packed_ = true;
  bool unet_pinned_ = false;
};

}  // namespace i2v::pipeline
