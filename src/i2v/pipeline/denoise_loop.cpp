// The denoising loop of I2VGenXLPipeline: per step, the guided UNet prediction and the DDIM step.
// The UNet's weights are leased for the whole loop; when a step's allocation fails, the ladder
// moves to the next plan, the lease is renewed under it, and only that step is redone.
#include <chrono>
#include <optional>

#include <torch/csrc/autograd/grad_mode.h>

#include "i2v/models/unet/i2vgen_xl_unet.h"
#include "i2v/nn/chunking.h"
#include "i2v/pipeline/frame_windows.h"
#include "i2v/pipeline/pipeline_run.h"
#include "i2v/schedulers/ddim_scheduler.h"

namespace i2v::pipeline {
namespace {

// (B, C, F, h, w) <-> (B*F, C, h, w), frames of each batch item consecutive (the scheduler's view).
at::Tensor to_frames(const at::Tensor& x) {
  return x.permute({0, 2, 1, 3, 4})
      .reshape({x.size(0) * x.size(2), x.size(1), x.size(3), x.size(4)});
}
at::Tensor from_frames(const at::Tensor& x, int64_t b, int64_t f) {
  return x.reshape({b, f, x.size(1), x.size(2), x.size(3)}).permute({0, 2, 1, 3, 4});
}

struct Prediction {
  at::Tensor guided, uncond, cond;  // float32; uncond/cond undefined without guidance
};

}  // namespace

at::Tensor I2VGenXLPipeline::run_unet(const unet::UNetInputs& in, const memory::ExecPlan& plan) {
  // The plan's attention chunking holds for this forward pass only.
  nn::ScopedAttentionScoreBudget attention(plan.attention_score_budget);
  std::optional<memory::BlockHooks> hooks = residency_.block_hooks(plan);
  return unet_->forward(in, {}, plan, hooks ? &*hooks : nullptr);
}

at::Tensor I2VGenXLPipeline::denoise(const GenerationRequest& r, Run& run, const at::Tensor& text,
                                     const at::Tensor& image_embeddings,
                                     const at::Tensor& image_latents, const at::Tensor& noise) {
  const at::Device dev = options_.device;
  const at::ScalarType dt = options_.dtype;
  const int64_t f = r.num_frames;
  scheduler_->set_timesteps(r.num_inference_steps);
  const std::vector<int64_t> steps = scheduler_->timesteps();
  run.dump("timesteps", at::tensor(steps, at::kLong));
  // float32 master copy of the latents; the conditions in the compute dtype, batch
  // [uncond, cond] (or [cond] without guidance).
  at::Tensor latents = noise.to(dev) * scheduler_->init_noise_sigma();
  const at::Tensor text_c = text.to(dt), image_c = image_embeddings.to(dt);
  const at::Tensor lat_c = image_latents.to(dt);
  const at::TensorOptions longs = at::TensorOptions().dtype(at::kLong).device(dev);

  // One guided prediction under `plan` of the frames in `x` (all, or one window): a batch-2 pass,
  // or two batch-1 passes. `lat` is the image latents of the same frames, `context` the video's
  // frame-0 latents (undefined: frame 0 of `lat`).
  auto predict = [&](const at::Tensor& x, const at::Tensor& lat, const at::Tensor& context,
                     int64_t t, const memory::ExecPlan& plan) {
    const at::Tensor ts = at::scalar_tensor(t, longs);
    const at::Tensor fps1 = at::full({1}, r.target_fps, longs);
    auto unet_in = [&](const at::Tensor& sample, const at::Tensor& lats, const at::Tensor& fps,
                       const at::Tensor& image, const at::Tensor& text) {
      unet::UNetInputs in{sample, ts, fps, lats, image, text};
      if (context.defined())
        in.context_image_latents = context.expand({sample.size(0), -1, -1, -1});
      return in;
    };
    Prediction p;
    if (!run.cfg) {
      p.guided = run_unet(unet_in(x.to(dt), lat, fps1, image_c, text_c), plan).to(at::kFloat);
      return p;
    }
    if (plan.sequential_cfg) {
      const at::Tensor xd = x.to(dt);
      p.uncond =
          run_unet(unet_in(xd, lat, fps1, image_c.slice(0, 0, 1), text_c.slice(0, 0, 1)), plan)
              .to(at::kFloat);
      p.cond = run_unet(unet_in(xd, lat, fps1, image_c.slice(0, 1, 2), text_c.slice(0, 1, 2)), plan)
                   .to(at::kFloat);
    } else {
      at::Tensor both = run_unet(unet_in(at::cat({x, x}).to(dt), at::cat({lat, lat}),
                                         at::full({2}, r.target_fps, longs), image_c, text_c),
                                 plan)
                            .to(at::kFloat);
      auto halves = both.chunk(2);
      p.uncond = halves[0];
      p.cond = halves[1];
    }
    p.guided = p.uncond + r.guidance_scale * (p.cond - p.uncond);
    return p;
  };
  const bool windowed = r.windows.applies(f);
  const at::Tensor context = windowed ? lat_c.select(2, 0) : at::Tensor();

  std::optional<ModelResidency::Lease> unet = residency_.lease(Model::UNet, run.ladder.plan());
  auto restage = [&](const memory::ExecPlan&, const memory::ExecPlan& to) {
    unet.reset();
    unet.emplace(residency_.lease(Model::UNet, to));
  };
  const int total = static_cast<int>(steps.size());
  for (int i = 0; i < total; ++i) {
    if (run.hooks.cancelled && run.hooks.cancelled()) throw CancelledError();
    const auto t0 = std::chrono::steady_clock::now();
    const std::string p = "step" + std::to_string(i) + ".";
    run.dump(p + "latents", latents);
    Prediction pred;
    if (!windowed) {
      pred = run.guarded(
          "unet", i + 1,
          [&](const memory::ExecPlan& plan) {
            return predict(latents, lat_c, context, steps[i], plan);
          },
          restage);
    } else {
      // Each window is one guarded piece of work: a failing window is redone alone.
      WindowFusion fusion(r.windows, latents);
      for (size_t k = 0; k < fusion.ranges().size(); ++k) {
        const int64_t start = fusion.ranges()[k].first, end = fusion.ranges()[k].second;
        fusion.add(k, run.guarded(
                          "unet", i + 1,
                          [&](const memory::ExecPlan& plan) {
                            // A window from frame 0 has the image latents itself.
                            return predict(latents.slice(2, start, end), lat_c.slice(2, start, end),
                                           start > 0 ? context : at::Tensor(), steps[i], plan)
                                .guided;
                          },
                          restage));
      }
      pred.guided = fusion.result();
    }
    if (run.cfg && !windowed) {
      run.dump(p + "noise_pred_uncond", pred.uncond);
      run.dump(p + "noise_pred_text", pred.cond);
    }
    run.dump(p + "noise_pred", pred.guided);
    auto out = scheduler_->step(to_frames(pred.guided), steps[i], to_frames(latents));
    run.dump(p + "pred_original_sample", out.pred_original_sample);
    latents = from_frames(out.prev_sample, latents.size(0), f);
    run.dump(p + "latents_out", latents);
    run.log.step(i + 1, total);
    if (run.hooks.on_step) {
      const double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      run.hooks.on_step({i + 1, total, seconds, latents.to(at::kCPU),
                         from_frames(out.pred_original_sample, latents.size(0), f).to(at::kCPU)});
    }
  }
  return latents;
}

}  // namespace i2v::pipeline
