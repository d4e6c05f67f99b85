// `i2v train-lora`: train a LoRA for the model's UNet on a folder of captioned clips
// (src/i2v/train/lora_trainer.h). Ctrl-C saves the LoRA and the state; --resume continues.
#include <spdlog/spdlog.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <sstream>

#include "command_registry.h"
#include "i2v/train/lora_trainer.h"

namespace i2v::cli {
namespace {

std::atomic<bool> g_stop{false};

// The first Ctrl-C asks the trainer to save and stop after the step it is in; a second one
// ends the process at once (default action restored).
extern "C" void on_interrupt(int) {
  g_stop = true;
  std::signal(SIGINT, SIG_DFL);
}

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

RegisterCommand reg(57, [](CLI::App& app, std::function<int()>& run) {
  auto* cmd = app.add_subcommand(
      "train-lora", "Train a LoRA for the UNet on a folder of captioned videos or frame folders");
  auto o = std::make_shared<train::TrainLoraOptions>();
  auto targets = std::make_shared<std::string>("to_q,to_k,to_v,to_out.0");
  auto out = std::make_shared<std::string>(), data = std::make_shared<std::string>();
  cmd->add_option("--model", o->model, "Model folder or cached repo id")->required();
  cmd->add_option("--data", *data,
                  "Folder of clips: videos (MP4, WebM ...) or frame folders, each with a .txt "
                  "caption beside it")
      ->required();
  cmd->add_option("--out", *out, "The LoRA .safetensors file to write")->required();
  cmd->add_option("--rank", o->rank, "LoRA rank")->capture_default_str();
  cmd->add_option("--alpha", o->alpha, "LoRA alpha (scale = alpha / rank)")->capture_default_str();
  cmd->add_option("--steps", o->steps, "Training steps (one clip each)")->capture_default_str();
  cmd->add_option("--lr", o->lr, "AdamW learning rate")->capture_default_str();
  cmd->add_option("--weight-decay", o->weight_decay, "AdamW weight decay")->capture_default_str();
  cmd->add_option("--targets", *targets,
                  "Comma-separated linear layers to adapt (last parts of module paths)")
      ->capture_default_str();
  cmd->add_flag("--gradient-checkpointing", o->gradient_checkpointing,
                "Recompute each UNet layer in the backward pass: less memory, one more forward "
                "(exact: the same gradients)");
  cmd->add_option("--checkpoint-layers", o->checkpoint_layers,
                  "With --gradient-checkpointing: all layers, or high-res (only those at the full "
                  "latent size: most of the memory saved, less recompute)")
      ->capture_default_str();
  cmd->add_option("--precision", o->precision, "bf16 or fp32")->capture_default_str();
  cmd->add_option("--frames", o->frames, "Frames per clip")->capture_default_str();
  cmd->add_option("--width", o->width, "Training width")->capture_default_str();
  cmd->add_option("--height", o->height, "Training height")->capture_default_str();
  cmd->add_option("--fps", o->target_fps, "The fps condition given to the UNet")
      ->capture_default_str();
  cmd->add_option("--save-every", o->save_every, "Steps between checkpoints (0: at the end only)")
      ->capture_default_str();
  cmd->add_flag("--resume", o->resume, "Continue the run saved beside --out");
  cmd->add_option("--seed", o->seed, "Random seed (noise, timesteps, initial A)")
      ->capture_default_str();
  run = [o, targets, out, data] {
    o->targets = split_list(*targets);
    o->out = *out;
    o->data = *data;
    g_stop = false;
    std::signal(SIGINT, on_interrupt);
    double total = 0;
    int ran = 0;
    const train::TrainLoraReport r = train::train_lora(
        *o,
        [&](const train::TrainStepInfo& s) {
          total += s.seconds;
          ++ran;
          const int width = 30, filled = s.step * width / std::max(1, s.steps);
          std::fprintf(stderr, "\r[%s%s] %d/%d  loss %.4f  %.2f s/step ",
                       std::string(filled, '#').c_str(), std::string(width - filled, '.').c_str(),
                       s.step, s.steps, s.loss, total / ran);
          std::fflush(stderr);
        },
        &g_stop);
    std::signal(SIGINT, SIG_DFL);
    std::fprintf(stderr, "\n");
    spdlog::info("wrote {} ({} layers, {} parameters), log {}, state {}", *out, r.modules,
                 r.parameters, train::training_log_path(o->out).string(),
                 train::training_state_path(o->out).string());
    if (r.stopped) {
      spdlog::warn("stopped after step {} of {}: continue with --resume", r.steps_done, o->steps);
      return 130;
    }
    const double gib = 1073741824.0;
    spdlog::info(
        "{} steps, {:.2f} s/step (median); RSS {:.2f} GiB before the steps, peak {:.2f} "
        "GiB during them (+{:.2f} GiB), process peak {:.2f} GiB; evaluation loss {:.5f} "
        "-> {:.5f}",
        r.steps_done, r.seconds_per_step, r.rss_before_steps_bytes / gib,
        r.peak_rss_steps_bytes / gib, (r.peak_rss_steps_bytes - r.rss_before_steps_bytes) / gib,
        r.peak_rss_bytes / gib, r.eval_loss_before, r.eval_loss_after);
    return 0;
  };
});

}  // namespace
}  // namespace i2v::cli
