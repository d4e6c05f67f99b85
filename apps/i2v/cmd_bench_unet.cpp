// `i2v bench unet`: times UNet forwards on random inputs (e.g. the real architecture written by
// make-model) and prints one JSON object, so numbers from any machine compare by script.
#include <chrono>
#include <optional>

#include <torch/csrc/autograd/grad_mode.h>

#include "cmd_bench_common.h"
#include "i2v/error.h"
#include "i2v/kernels/packed_weights.h"
#include "i2v/memory/mapped_weights.h"
#include "i2v/memory/planner.h"
#include "i2v/models/unet/i2vgen_xl_unet.h"
#include "i2v/models/unet/unet_loading.h"
#include "i2v/weights/model_dir.h"

namespace i2v::cli {
namespace {

RegisterBench reg(10, [](CLI::App& bench, std::function<int()>& run) {
  auto* unet = bench.add_subcommand("unet", "Time UNet forward passes on random inputs");
  auto o = std::make_shared<BenchOptions>();
  auto batch = std::make_shared<int>(2);
  add_bench_options(unet, *o);
  unet->add_option("--batch", *batch, "Batch (2 = classifier-free guidance)")
      ->capture_default_str();
  auto plan_name = std::make_shared<std::string>("plain");
  unet->add_option("--plan", *plan_name,
                   "Execution plan: packed, plain, chunked, chunked+seqcfg or stream (exact "
                   "chunking; sequential CFG and streaming residency are the pipeline's and act "
                   "as chunked; packed keeps the packed weights across runs, packing them in the "
                   "warm-up)")
      ->capture_default_str();
  run = [o, batch, plan_name] {
    const memory::ExecPlan plan = memory::named_plan(*plan_name);
    if (*batch < 1) throw ConfigError("bench unet: --batch must be >= 1");
    const at::ScalarType dtype = bench_dtype(o->precision);
    torch::NoGradGuard no_grad;
    auto t_load = std::chrono::steady_clock::now();
    // Loaded as the pipeline loads it: built in a construction arena, then every tensor a view
    // of the mapped files (zero-copy when they hold the compute dtype; converted once if not).
    unet::UNetLoadOptions load;
    load.dtype = dtype;
    load.keep_stored_dtype = false;
    unet::I2VGenXLUNet model =
        unet::load_i2vgen_xl_unet(weights::ModelDir::open(o->model), load).unet;
    const double load_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t_load).count();

    const auto& c = model->config();
    const int64_t b = *batch, f = o->frames, h = o->size / 8, w = o->size / 8;
    auto opts = at::TensorOptions().dtype(dtype);
    unet::UNetInputs in{at::randn({b, c.in_channels, f, h, w}, opts),
                        at::scalar_tensor(500, at::kLong),
                        at::full({b}, 8, at::kLong),
                        at::randn({b, c.in_channels, f, h, w}, opts),
                        at::randn({b, 1, c.cross_attention_dim}, opts),
                        at::randn({b, 77, c.cross_attention_dim}, opts)};
    nlohmann::json j = {{"bench", "unet"},   {"precision", dtype_name(dtype)},
                        {"batch", b},        {"frames", f},
                        {"size", o->size},   {"latent", {h, w}},
                        {"plan", plan.name}, {"load_s", load_s}};
    // As the pipeline's lease does for the denoising loop: one scope over every forward, each
    // weight's mapped pages dropped once it is packed (so the peak RSS is the pipeline's).
    std::optional<kernels::PackedWeightScope> packed;
    if (plan.residency == memory::Residency::Packed) packed.emplace(memory::mapped_page_releaser());
    j.update(time_runs(*o, [&] { model->forward(in, {}, plan); }));
    if (packed) j["packed_weight_bytes"] = kernels::packed_weight_bytes();
    print_bench_json(*o, j);
    return 0;
  };
  return unet;
});

}  // namespace
}  // namespace i2v::cli
