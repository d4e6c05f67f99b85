// A frozen UNet with trainable LoRA adapters on the chosen linear layers (PEFT's scheme: A
// Kaiming-uniform, B zero, so training starts from the base model; scale = alpha / rank). One
// training example's loss and the adapters' gradients, with or without gradient checkpointing,
// and the adapters written as a diffusers/PEFT LoRA file that `generate --lora` loads.
#pragma once

#include <ATen/ATen.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "i2v/models/unet/i2vgen_xl_unet.h"

namespace i2v::train {

// What one clip gives the UNet besides the noisy latents (computed once, before training).
struct TrainingExample {
  at::Tensor latents;           // x0 (1, C, F, h, w), float32
  at::Tensor image_latents;     // (1, C, F, h, w)
  at::Tensor image_embeddings;  // (1, 1, D)
  at::Tensor text_embeddings;   // (1, 77, D)
  int64_t fps = 16;
};

struct LossAndGradients {
  double loss = 0;
  std::vector<at::Tensor> gradients;  // one per parameter (parameters() order)
};

class TrainableLora {
 public:
  // Adapts every linear layer whose module path ends with ".<target>" (ConfigError when none
  // does, or a target names only convolutions). `dtype`: the compute precision; the adapters
  // stay float32 (cast where they multiply).
  TrainableLora(unet::I2VGenXLUNet unet, const std::vector<std::string>& targets, int64_t rank,
                double alpha, uint64_t seed, at::ScalarType dtype);
  ~TrainableLora();
  TrainableLora(const TrainableLora&) = delete;
  TrainableLora& operator=(const TrainableLora&) = delete;

  // MSE between the UNet's prediction on `noisy` at `timestep` and `target` (float32), and its
  // gradients for the adapters only (the base weights get none).
  LossAndGradients loss_and_gradients(const TrainingExample& example, const at::Tensor& noisy,
                                      int64_t timestep, const at::Tensor& target,
                                      bool gradient_checkpointing,
                                      int64_t checkpoint_min_positions = 0);

  // The same loss without gradients (evaluation).
  double loss(const TrainingExample& example, const at::Tensor& noisy, int64_t timestep,
              const at::Tensor& target);

  // [A0, B0, A1, B1, ...] in module order: what the optimizer updates in place.
  const std::vector<at::Tensor>& parameters() const { return params_; }
  const std::vector<std::string>& modules() const { return modules_; }
  int64_t rank() const { return rank_; }
  double alpha() const { return alpha_; }
  // The adapters by file name: unet.<module>.lora_A.weight / lora_B.weight / alpha.
  std::vector<std::pair<std::string, at::Tensor>> peft_tensors() const;
  // Loads adapters saved by peft_tensors() (ShapeError / ConfigError when they do not match).
  void load_peft_tensors(const std::map<std::string, at::Tensor>& tensors);

 private:
  unet::I2VGenXLUNet unet_;
  at::ScalarType dtype_;
  int64_t rank_;
  double alpha_;
  std::vector<std::string> modules_;
  std::vector<at::Tensor> weights_;  // the adapted base weights (keys of the attachments)
  std::vector<at::Tensor> params_;
};

}  // namespace i2v::train
