// Predicts the peak memory of a generation under an ExecPlan from the model's configuration and
// the request's shapes, before anything runs. The model: the process peak is a fixed runtime
// baseline plus the largest stage, each stage being the weights resident during it plus its
// activations (the UNet's skip connections, and the transient tensors of its largest layer under
// the plan's chunking; the VAE decoder's largest layer for the frames decoded at once).
// Calibrated against measured peaks (tests/memory, bench/memory).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "i2v/memory/exec_plan.h"

namespace i2v::memory {

// What the estimator needs to know about a model (filled from its folder by the pipeline:
// pipeline::model_facts).
struct ModelFacts {
  std::vector<int64_t> unet_channels{320, 640, 1280, 1280};
  int64_t unet_layers_per_block = 2;
  int64_t unet_in_channels = 4;
  int64_t cross_attention_dim = 1024;
  int64_t head_size = 64;
  std::vector<int64_t> vae_channels{128, 256, 512, 512};
  int64_t vae_scale = 8;
  // Weight bytes per component as resident during a run (stored bytes when mapped, converted
  // bytes otherwise), and the largest top-level UNet block (streaming keeps about one).
  int64_t text_bytes = 0, image_bytes = 0, vae_bytes = 0, unet_bytes = 0, unet_block_bytes = 0;
  // When the UNet's files hold another precision than the compute one, its blocks stay in the
  // stored precision and each is cast while it runs: the largest block in the compute dtype (the
  // staged copy alive beside the stored weights); 0 otherwise.
  int64_t unet_staged_block_bytes = 0;
  int64_t unet_rest_bytes = 0;  // the UNet outside its top-level blocks (embeddings, conv_in/out)
  // The encoders run layer by layer under CPU streaming: the rest plus about one layer.
  int64_t text_stream_bytes = 0, image_stream_bytes = 0;
  int64_t text_tokens = 77, image_tokens = 257, text_dim = 1024, image_dim = 1280;
  // Components whose files hold 8-bit weights (`i2v quantize`): name -> format ("int8" ...).
  // Plans on such a model are approximate (the weights differ from the original ones).
  std::map<std::string, std::string> weights_8bit;
};

struct Shapes {
  // The shapes of a request: CFG when guidance > 1.
  static Shapes of(int64_t width, int64_t height, int64_t frames, double guidance,
                   int64_t element_bytes, int64_t decode_chunk = 1, bool gpu = false);

  int64_t width = 512, height = 512, frames = 16;
  bool cfg = true;
  int64_t element_bytes = 2;  // compute dtype (bf16 2, fp32 4)
  int64_t decode_chunk = 1;   // frames per VAE decode call (the request's decode_chunk_size)
  // Frames the UNet sees at once: a frame window's length for long videos; 0 = all of them.
  int64_t unet_frames = 0;
  // The decoded frames go out as they are decoded (streaming output) instead of being kept.
  bool stream_frames = false;
  // Denoising steps, 0 = not known. The planner offers the packed plan only for enough steps:
  // its first step packs the weights (slower), the later ones gain.
  int64_t steps = 0;
  // The packing is paid already or shared with later generations: the Generator holds packed
  // copies, or keeps the copies it packs. Then packed is offered for any number of steps.
  bool packing_reused = false;
  // Under the packed plan, the Generator keeps the packed copies after the UNet stage (resident
  // through the VAE decode), and holds them already (resident from the first stage).
  bool packed_kept = false, packed_held = false;
  // Predict the GPU's memory (tensors on the device under the plan's residency) instead of the
  // host process's RSS. Same activation model; not yet checked against a GPU.
  bool gpu = false;
};

struct Estimate {
  int64_t peak = 0;                      // predicted process peak (RSS on CPU)
  std::map<std::string, int64_t> stage;  // per stage (text, image, vae_encode, unet, vae_decode)
  int64_t unet_activations = 0;          // the UNet stage's activation part
};

// Process memory that does not depend on the model (libtorch, oneDNN, code, heap): measured.
int64_t runtime_baseline_bytes();
// GPU memory beyond tensors (cuBLAS/cuDNN workspaces, allocator rounding): an allowance.
int64_t gpu_workspace_bytes();

Estimate estimate(const ModelFacts& model, const Shapes& shapes, const ExecPlan& plan);

// What the packed residency holds beyond the UNet's weight bytes (its packed copies replace the
// mapped pages): the upsamplers' phase kernels and their copies, weights packed in two layouts,
// and the VAE's packed copies, kept through the UNet stage.
int64_t packed_weights_extra_bytes(const ModelFacts& model);

}  // namespace i2v::memory
