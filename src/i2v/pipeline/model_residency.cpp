#include "i2v/pipeline/model_residency.h"

#include <algorithm>

namespace i2v::pipeline {
namespace {

int64_t tensor_bytes(const torch::nn::Module& m) {
  int64_t n = 0;
  for (const auto& p : m.parameters(true)) n += p.numel() * p.element_size();
  for (const auto& b : m.buffers(true)) n += b.numel() * b.element_size();
  return n;
}

// Converts every tensor of `m` that lies outside `blocks` (directly or in a sub-module that is
// neither a block nor holds one, e.g. the ModuleList holding the down blocks) for good.
void convert_outside_blocks(torch::nn::Module& m, const std::vector<torch::nn::Module*>& blocks,
                            const memory::WeightStager& stager) {
  auto is_block = [&](const torch::nn::Module* x) {
    return std::find(blocks.begin(), blocks.end(), x) != blocks.end();
  };
  stager.convert_in_place(m, /*recurse=*/false);  // tensors registered on `m` itself
  for (const auto& child : m.children()) {
    if (is_block(child.get())) continue;
    bool holds_block = false;
    for (const auto& sub : child->modules(/*include_self=*/false))
      holds_block |= is_block(sub.get());
    if (holds_block) {
      convert_outside_blocks(*child, blocks, stager);
    } else {
      stager.convert_in_place(*child);
    }
  }
}

}  // namespace

std::string to_string(Model m) {
  switch (m) {
    case Model::TextEncoder:
      return "text_encoder";
    case Model::ImageEncoder:
      return "image_encoder";
    case Model::Vae:
      return "vae";
    case Model::UNet:
      break;
  }
  return "unet";
}

ModelResidency::ModelResidency(memory::WeightStager::Options staging) : stager_(staging) {}

void ModelResidency::adopt(Slot& slot, std::shared_ptr<torch::nn::Module> module) {
  slot.module = std::move(module);
  slot.pages = memory::MappedWeights::of(*slot.module);
  slot.weights = {tensor_bytes(*slot.module), slot.pages.mapped_bytes()};
  slot.layer_pages.clear();  // a reloaded module has new layers
}

void ModelResidency::set_layered(Model which, Layered layered) {
  slots_.at(which).layered = std::move(layered);
}

void ModelResidency::add(Model which, std::shared_ptr<torch::nn::Module> module, Loader reload) {
  Slot& slot = slots_[which];
  slot.reload = std::move(reload);
  adopt(slot, std::move(module));
  if (slot.reload && !slot.pages.all_mapped()) {
    slot.module.reset();  // checked by loading; held again only while its stage runs
    memory::trim_heap();
  }
}

void ModelResidency::add_unet(std::shared_ptr<torch::nn::Module> unet,
                              std::vector<torch::nn::Module*> blocks, bool cast_per_block) {
  unet_blocks_ = std::move(blocks);
  unet_cast_per_block_ = cast_per_block;
  convert_outside_blocks(*unet, unet_blocks_, stager_);
  memory::trim_heap();
  for (auto* block : unet_blocks_) pages_of(*block);  // now, while every tensor is the mapped one
  add(Model::UNet, std::move(unet));
}

ModelResidency::Lease::Lease(ModelResidency* owner, Model which, memory::Residency residency,
                             std::shared_ptr<torch::nn::Module> module)
    : owner_(owner), which_(which), residency_(residency), module_(std::move(module)) {}

ModelResidency::Lease::Lease(Lease&& o) noexcept
    : owner_(o.owner_), which_(o.which_), residency_(o.residency_), module_(std::move(o.module_)) {
  o.owner_ = nullptr;
}

ModelResidency::Lease::~Lease() {
  if (owner_) owner_->end(which_, residency_);
}

ModelResidency::Lease ModelResidency::lease(Model which, const memory::ExecPlan& plan) {
  Slot& slot = slots_.at(which);
  if (!slot.module) adopt(slot, slot.reload());
  if (slot.leases++ == 0) {
    begin(which, slot, plan.residency);
    if (slot.adapters) {
      lora::Mode mode = slot.adapter_mode;
      if (mode == lora::Mode::Auto && plan.residency == memory::Residency::StreamBlocks)
        mode = lora::Mode::Unmerged;
      try {
        slot.attachment = std::make_unique<lora::Attachment>(*slot.module, *slot.adapters, mode);
      } catch (...) {
        end(which, plan.residency);
        throw;
      }
      const std::string used = slot.attachment->modes();
      if (slot.modes_used.find(used) == std::string::npos)
        slot.modes_used += (slot.modes_used.empty() ? "" : "+") + used;
    }
  }
  return Lease(this, which, plan.residency, slot.module);
}

void ModelResidency::set_adapters(Model which, const lora::ComponentAdapters* adapters,
                                  lora::Mode mode) {
  Slot& slot = slots_.at(which);
  slot.adapters = adapters && !adapters->empty() ? adapters : nullptr;
  // Adapted weights are other tensors: copies kept of the model's own would sit idle.
  if (slot.adapters) drop_packed(slot);
  slot.adapter_mode = mode;
  slot.modes_used.clear();
}

std::map<std::string, std::string> ModelResidency::adapter_modes() const {
  std::map<std::string, std::string> out;
  for (const auto& [which, slot] : slots_)
    if (!slot.modes_used.empty()) out[to_string(which)] = slot.modes_used;
  return out;
}

void ModelResidency::begin(Model which, Slot& slot, memory::Residency residency) {
  const bool cpu = stager_.options().device.is_cpu();
  const bool streaming = residency == memory::Residency::StreamBlocks;
  open_packed(which, slot, residency);
  if (which != Model::UNet) {
    slot.layer_hooks = slot.layered.layers && cpu && streaming;
    if (!slot.layer_hooks) {
      stager_.stage(*slot.module);  // CPU with weights in the compute dtype: nothing to do
      return;
    }
    // Layer by layer: the rest (embeddings, norms, projections) is converted now, for good (the
    // module then counts as converted and is reloaded at its next lease); each layer is staged
    // while it runs and, under CPU streaming, its pages dropped after.
    const std::vector<torch::nn::Module*> layers = slot.layered.layers(*slot.module);
    convert_outside_blocks(*slot.module, layers, stager_);
    Slot* s = &slot;
    memory::BlockHooks hooks;
    hooks.before = [this, s](torch::nn::Module& layer) {
      auto it = s->layer_pages.find(&layer);
      if (it == s->layer_pages.end())
        it = s->layer_pages.emplace(&layer, memory::MappedWeights::of(layer)).first;
      stager_.stage(layer);
    };
    hooks.after = [this, s, cpu, streaming](torch::nn::Module& layer) {
      stager_.unstage(layer);
      if (cpu && streaming) s->layer_pages.at(&layer).release();
    };
    slot.layered.attach(*slot.module, std::move(hooks));
    return;
  }
  // CPU: the UNet stays mapped; per-block casts happen in block_hooks.
  if (cpu) {
    return;
  }
  if (residency == memory::Residency::StreamBlocks) {
    stager_.unstage(*slot.module);  // a whole UNet staged by an earlier plan
    if (!unet_pinned_) {
      for (auto* block : unet_blocks_) memory::WeightStager::pin_home(*block);
      unet_pinned_ = true;
    }
    return;
  }
  stager_.stage(*slot.module);  // Resident and OnDemand: the whole UNet on the device
  slot.pages.release();         // its host pages are not read while it is there
}

void ModelResidency::end(Model which, memory::Residency residency) {
  Slot& slot = slots_.at(which);
  if (--slot.leases > 0) return;
  slot.attachment.reset();  // the model's own weights back before they are unstaged
  torch::nn::Module& m = *slot.module;
  // A GPU plan with everything resident keeps the staged copies for the next generation.
  const bool keep =
      !stager_.options().device.is_cpu() &&
      (residency == memory::Residency::Resident || residency == memory::Residency::Packed);
  if (slot.layer_hooks) {
    slot.layered.attach(m, {});
    for (auto* layer : slot.layered.layers(m)) stager_.unstage(*layer);  // after an exception
    slot.layer_hooks = false;
    slot.pages = memory::MappedWeights::of(m);  // the rest may have been converted
  }
  if (slot.packed_scope) {
    slot.packed_scope.reset();
    if (!keep_packed_ || slot.adapters) drop_packed(slot);
  }
  if (!keep) {
    stager_.unstage(m);
    if (which == Model::UNet) {
      for (auto* block : unet_blocks_) stager_.unstage(*block);
      stager_.drop_prefetches();
    }
  }
  slot.pages.release();  // read again (from the page cache) at the next lease
  if (!keep && slot.reload && !slot.pages.all_mapped()) {
    slot.module.reset();  // converted weights: freed now, loaded again at the next lease
    memory::trim_heap();
  }
}

void ModelResidency::open_packed(Model which, Slot& slot, memory::Residency residency) {
  // A run of another plan uses no kept copies: they go at its first lease (the text encoder's,
  // before any model of the run is read).
  if (residency != memory::Residency::Packed) {
    drop_packed_weights();
    return;
  }
  // The UNet and the VAE run their weights many times per generation (steps, frames); the
  // encoders once. Blocks cast per forward are new tensors every step: nothing to keep.
  const bool packable = stager_.options().device.is_cpu() &&
                        (which == Model::UNet ? !unet_cast_per_block_ : which == Model::Vae);
  if (!packable) return;
  // Each weight's packed copy takes the place of its mapped pages (dropped once packed); copies
  // kept from an earlier generation are used as they are.
  if (!slot.packed)
    slot.packed = std::make_unique<kernels::PackedWeights>(memory::mapped_page_releaser());
  slot.packed_scope = std::make_unique<kernels::PackedWeightScope>(*slot.packed);
}

void ModelResidency::drop_packed(Slot& slot) {
  if (!slot.packed) return;
  slot.packed_scope.reset();
  slot.packed.reset();
  memory::trim_heap();
}

int64_t ModelResidency::packed_weight_bytes() const {
  int64_t bytes = 0;
  for (const auto& [which, slot] : slots_)
    if (slot.packed) bytes += slot.packed->bytes();
  return bytes;
}

void ModelResidency::drop_packed_weights() {
  for (auto& [which, slot] : slots_) drop_packed(slot);
}

const memory::MappedWeights& ModelResidency::pages_of(torch::nn::Module& block) {
  // Found once, while the block's tensors are the home (mapped) ones.
  auto it = block_pages_.find(&block);
  if (it == block_pages_.end())
    it = block_pages_.emplace(&block, memory::MappedWeights::of(block)).first;
  return it->second;
}

std::optional<memory::BlockHooks> ModelResidency::block_hooks(const memory::ExecPlan& plan) {
  const bool cpu = stager_.options().device.is_cpu();
  const bool streaming = plan.residency == memory::Residency::StreamBlocks;
  // Whole-UNet plans on a GPU were staged by the lease; on CPU with weights in the compute
  // dtype there is nothing to stage.
  if (!streaming && !(cpu && unet_cast_per_block_)) return std::nullopt;
  memory::BlockSchedule schedule{unet_blocks_};
  memory::BlockHooks hooks;
  hooks.before = [this, schedule, cpu, streaming](torch::nn::Module& m) {
    const memory::MappedWeights& pages = pages_of(m);
    // Streaming with a cast: the staged copy is what runs, so the stored pages can go now.
    if (stager_.stage(m) && cpu && streaming) pages.release();
    if (torch::nn::Module* next = schedule.next_after(&m)) stager_.prefetch(*next);
  };
  hooks.after = [this, cpu, streaming](torch::nn::Module& m) {
    stager_.unstage(m);
    if (cpu && streaming) pages_of(m).release();
  };
  return hooks;
}

std::map<std::string, ModelResidency::Weights> ModelResidency::weights() const {
  std::map<std::string, Weights> out;
  for (const auto& [which, slot] : slots_) out[to_string(which)] = slot.weights;
  return out;
}

}  // namespace i2v::pipeline
