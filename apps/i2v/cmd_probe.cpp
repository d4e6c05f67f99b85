// `i2v probe [generation flags]`: the device, free memory, every candidate plan with its
// predicted peak and relative speed, and the one `i2v generate` with the same flags would run
// (i2v::estimate: the library's one plan policy). `--tiers` states the largest resolution x
// frames each memory tier can do and with which plan.
#include <iostream>

#include <nlohmann/json.hpp>

#include "command_registry.h"
#include "default_model.h"
#include "i2v/api/option_parsing.h"
#include "i2v/api/plan_policy.h"
#include "i2v/core/runtime.h"
#include "i2v/i2v.h"
#include "i2v/memory/memory_stats.h"
#include "i2v/memory/planner.h"
#include "i2v/pipeline/model_facts.h"

namespace i2v::cli {
namespace {

struct ProbeArgs {
  std::string model, precision = "auto", variant = "auto", memory_budget, tiers_list, plan = "auto";
  int width = 512, height = 512, frames = 16, chunk = 1, window = -1, window_stride = 4;
  double guidance = 9.0;
  bool tiers = false, json = false;
  std::string device = "cpu";
};

RegisterCommand reg(25, [](CLI::App& app, std::function<int()>& run) {
  auto* cmd =
      app.add_subcommand("probe", "Show the memory plans for a generation and the chosen one");
  cmd->option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  auto a = std::make_shared<ProbeArgs>();
  cmd->add_option("--model", a->model, "Model folder (default: the built-in tiny random model)");
  cmd->add_option("--width", a->width, "Video width")->capture_default_str();
  cmd->add_option("--height", a->height, "Video height")->capture_default_str();
  cmd->add_option("--frames", a->frames, "Frames")->capture_default_str();
  cmd->add_option("--guidance", a->guidance, "Guidance scale (> 1: CFG)")->capture_default_str();
  cmd->add_option("--window", a->window,
                  "Frames per UNet window (-1: 16 when --frames > 16; 0: off), as for generate")
      ->capture_default_str();
  cmd->add_option("--window-stride", a->window_stride, "Frames between window starts")
      ->capture_default_str();
  cmd->add_option("--decode-chunk-size", a->chunk, "Frames per VAE decode call")
      ->capture_default_str();
  cmd->add_option("--precision", a->precision, "auto, fp32, bf16 or fp16 (cuda)")
      ->capture_default_str();
  cmd->add_option("--plan", a->plan, "auto or a named plan, as for generate")
      ->capture_default_str();
  cmd->add_option("--variant", a->variant, "Weight files: auto, none, fp16 or bf16")
      ->capture_default_str();
  cmd->add_option("--memory-budget", a->memory_budget,
                  "Budget (e.g. 6GiB); default: free memory, 10 % kept spare");
  cmd->add_flag("--tiers", a->tiers, "Largest resolution x frames per memory tier");
  cmd->add_option("--tier-list", a->tiers_list, "Tiers for --tiers (default 8,12,16,24 GiB)");
  cmd->add_flag("--json", a->json, "Machine-readable output");
  cmd->add_option("--device", a->device, "cpu or cuda: whose memory to plan for")
      ->capture_default_str();
  // Accepted so that a generate command line can be probed unchanged.
  for (const char* ignored :
       {"--image", "--prompt", "--negative-prompt", "--output", "--seed", "--steps", "--fps",
        "--config", "--noise", "--residency", "--frame-chunk", "--temporal-chunk", "--memory-log",
        "--vae-tile", "--vae-tile-overlap", "--window-fuse", "--noise-type"}) {
    cmd->add_option(ignored, "accepted for compatibility with generate; not used by probe");
  }
  run = [a] {
    const at::Device device = api::parse_device(a->device);
    const at::ScalarType dtype = api::parse_precision(a->precision, device);
    const std::string model = a->model.empty() ? ensure_default_model() : a->model;
    const auto facts = pipeline::model_facts(weights::ModelDir::open(model), dtype,
                                             weights::parse_variant_mode(a->variant));
    const memory::Shapes s = memory::Shapes::of(a->width, a->height, a->frames, a->guidance,
                                                static_cast<int64_t>(c10::elementSize(dtype)),
                                                a->chunk, device.is_cuda());
    const bool cuda = cuda_available();
    if (s.gpu && !cuda && a->memory_budget.empty() && !a->tiers) {
      throw ConfigError(
          "--device cuda: CUDA is not available here (this libtorch was built "
          "without CUDA, or no GPU is visible); give --memory-budget (or --tiers) "
          "to plan for a GPU elsewhere");
    }
    const int64_t free_bytes = api::detected_budget_bytes(s.gpu);
    nlohmann::json j;
    j["device"] = s.gpu ? "cuda (planning GPU memory)"
                        : std::string("cpu (") + std::to_string(available_cpus()) + " threads" +
                              (cuda ? ", cuda available: --device cuda plans for it" : "") + ")";
    j["free_bytes"] = free_bytes;
    if (a->tiers) {
      std::vector<int64_t> budgets;
      std::string list = a->tiers_list.empty() ? "8GiB,12GiB,16GiB,24GiB" : a->tiers_list;
      size_t pos = 0;
      while (pos <= list.size()) {
        size_t comma = list.find(',', pos);
        std::string item =
            list.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
        if (!item.empty()) budgets.push_back(memory::parse_bytes(item));
        if (comma == std::string::npos) break;
        pos = comma + 1;
      }
      auto rows = memory::tiers(facts, s, budgets);
      if (!a->json)
        std::cout << "tier        largest size x frames   plan             predicted peak\n";
      for (const auto& t : rows) {
        nlohmann::json row = {{"budget_bytes", t.budget}, {"fits", t.any}};
        if (t.any) {
          row["width"] = t.shapes.width;
          row["height"] = t.shapes.height;
          row["frames"] = t.shapes.frames;
          row["plan"] = t.plan.name;
          row["predicted_peak_bytes"] = t.predicted;
        }
        j["tiers"].push_back(row);
        if (!a->json) {
          char buf[200];
          if (t.any)
            std::snprintf(buf, sizeof buf, "%-10s  %4lldx%-4lld x %-2lld frames   %-15s  %s\n",
                          memory::format_bytes(t.budget).c_str(), (long long)t.shapes.width,
                          (long long)t.shapes.height, (long long)t.shapes.frames,
                          t.plan.name.c_str(), memory::format_bytes(t.predicted).c_str());
          else
            std::snprintf(buf, sizeof buf, "%-10s  nothing fits\n",
                          memory::format_bytes(t.budget).c_str());
          std::cout << buf;
        }
      }
      if (a->json) std::cout << j.dump(2) << "\n";
      return 0;
    }
    ModelOptions m;
    m.model = model;
    m.precision = a->precision;
    m.variant = a->variant;
    m.device = a->device;
    m.memory_budget_bytes = a->memory_budget.empty() ? 0 : memory::parse_bytes(a->memory_budget);
    m.keep_packed_weights = false;  // as `i2v generate` runs (one generation)
    Request r;
    r.width = a->width;
    r.height = a->height;
    r.frames = a->frames;
    r.guidance = a->guidance;
    r.decode_chunk_size = a->chunk;
    r.window = a->window;
    r.window_stride = a->window_stride;
    r.plan = a->plan;
    const Estimate e = estimate(m, r);  // what generate with these flags would run
    const nlohmann::json ej = nlohmann::json::parse(e.json);
    j["budget_bytes"] = e.budget_bytes;
    j["budget_source"] = ej["budget_source"];
    j["candidates"] = ej["candidates"];
    j["fallback"] = ej["fallback"];
    j["fits"] = e.fits;
    j["chosen"] = e.fits ? nlohmann::json(e.plan) : nlohmann::json(nullptr);
    j["predicted_peak_bytes"] = e.predicted_peak_bytes;
    j["message"] = e.message;
    if (a->json) {
      std::cout << j.dump(2) << "\n";
    } else {
      std::cout << "device: " << j["device"].get<std::string>() << "\n"
                << "free memory: " << memory::format_bytes(free_bytes) << "\n"
                << "budget: " << memory::format_bytes(e.budget_bytes) << " ("
                << j["budget_source"].get<std::string>() << ")\n"
                << "request: " << s.width << "x" << s.height << ", " << s.frames << " frames, "
                << (s.cfg ? "CFG" : "no CFG") << ", " << a->precision << "\n\n"
                << "plan             predicted peak   relative speed\n";
      for (const auto& cand : j["candidates"]) {
        const std::string name = cand["plan"]["name"];
        char buf[160];
        std::snprintf(buf, sizeof buf, "%-16s %-16s %.2f%s\n", name.c_str(),
                      memory::format_bytes(cand["predicted_peak_bytes"].get<int64_t>()).c_str(),
                      cand["relative_speed"].get<double>(),
                      e.fits && name == e.plan ? "   <- chosen" : "");
        std::cout << buf;
      }
      std::cout << "\n" << (e.fits ? "chosen: " : "refused: ") << e.message << "\n";
    }
    return e.fits ? 0 : 3;
  };
});

}  // namespace
}  // namespace i2v::cli
