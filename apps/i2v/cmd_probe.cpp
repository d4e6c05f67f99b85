// `i2v probe [generation flags]`: the device, free memory, every candidate plan with its
// predicted peak and relative speed, and the one the planner chooses (for --memory-budget, or the
// detected free memory with a safety margin). `--tiers` states the largest resolution x frames
// each memory tier can do and with which plan.
#include <iostream>

#include <nlohmann/json.hpp>

#include "command_registry.h"
#include "default_model.h"
#include "device_option.h"
#include "i2v/core/error.h"
#include "i2v/core/runtime.h"
#include "i2v/memory/memory_stats.h"
#include "i2v/memory/planner.h"
#include "i2v/pipeline/model_facts.h"
#include "precision.h"

namespace i2v::cli {
namespace {

struct ProbeArgs {
  std::string model, precision = "bf16", variant = "auto", memory_budget, tiers_list;
  int width = 512, height = 512, frames = 16, chunk = 1;
  double guidance = 9.0;
  double margin = 0.10;
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
  cmd->add_option("--decode-chunk-size", a->chunk, "Frames per VAE decode call")
      ->capture_default_str();
  cmd->add_option("--precision", a->precision, "fp32, bf16 or auto")->capture_default_str();
  cmd->add_option("--variant", a->variant, "Weight files: auto, none, fp16 or bf16")
      ->capture_default_str();
  cmd->add_option("--memory-budget", a->memory_budget,
                  "Budget (e.g. 6GiB); default: available memory minus the safety margin");
  cmd->add_option("--margin", a->margin, "Fraction of detected free memory kept free")
      ->capture_default_str();
  cmd->add_flag("--tiers", a->tiers, "Largest resolution x frames per memory tier");
  cmd->add_option("--tier-list", a->tiers_list, "Tiers for --tiers (default 8,12,16,24 GiB)");
  cmd->add_flag("--json", a->json, "Machine-readable output");
  cmd->add_option("--device", a->device, "cpu or cuda: whose memory to plan for")
      ->capture_default_str();
  // Accepted so that a generate command line can be probed unchanged.
  for (const char* ignored :
       {"--image", "--prompt", "--negative-prompt", "--output", "--seed", "--steps", "--fps",
        "--plan", "--config", "--noise", "--residency", "--frame-chunk", "--temporal-chunk",
        "--memory-log", "--vae-tile", "--vae-tile-overlap"}) {
    cmd->add_option(ignored, "accepted for compatibility with generate; not used by probe");
  }
  run = [a] {
    const at::ScalarType dtype = parse_precision(a->precision);
    if (dtype == at::kHalf) throw ConfigError("--precision must be fp32 or bf16 for probe");
    const std::string model = a->model.empty() ? ensure_default_model() : a->model;
    const auto facts = pipeline::model_facts(weights::ModelDir::open(model), dtype,
                                             weights::parse_variant_mode(a->variant));
    const memory::Shapes s = memory::Shapes::of(a->width, a->height, a->frames, a->guidance,
                                                static_cast<int64_t>(c10::elementSize(dtype)),
                                                a->chunk, parse_device(a->device).is_cuda());
    const bool cuda = cuda_available();
    if (s.gpu && !cuda && a->memory_budget.empty() && !a->tiers) {
      throw ConfigError(
          "--device cuda: CUDA is not available here (this libtorch was built "
          "without CUDA, or no GPU is visible); give --memory-budget (or --tiers) "
          "to plan for a GPU elsewhere");
    }
    const int64_t free_bytes = s.gpu ? memory::cuda_free_bytes() : memory::available_memory_bytes();
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
    const bool explicit_budget = !a->memory_budget.empty();
    const int64_t budget = explicit_budget ? memory::parse_bytes(a->memory_budget) : free_bytes;
    memory::PlanChoice c = memory::plan_for(facts, s, budget, explicit_budget ? 0.0 : a->margin);
    j["budget_bytes"] = budget;
    j["budget_source"] = explicit_budget ? "--memory-budget" : "free memory minus margin";
    for (const auto& cand : c.candidates) {
      j["candidates"].push_back({{"plan", cand.plan.to_json()},
                                 {"predicted_peak_bytes", cand.estimate.peak},
                                 {"stages", cand.estimate.stage},
                                 {"relative_speed", cand.relative_speed}});
    }
    j["fits"] = c.fits;
    j["chosen"] = c.fits ? nlohmann::json(c.plan.name) : nlohmann::json(nullptr);
    j["message"] = c.message;
    if (a->json) {
      std::cout << j.dump(2) << "\n";
    } else {
      std::cout << "device: " << j["device"].get<std::string>() << "\n"
                << "free memory: " << memory::format_bytes(free_bytes) << "\n"
                << "budget: " << memory::format_bytes(budget) << " ("
                << j["budget_source"].get<std::string>() << ")\n"
                << "request: " << s.width << "x" << s.height << ", " << s.frames << " frames, "
                << (s.cfg ? "CFG" : "no CFG") << ", " << a->precision << "\n\n"
                << "plan             predicted peak   relative speed\n";
      for (const auto& cand : c.candidates) {
        char buf[160];
        std::snprintf(buf, sizeof buf, "%-16s %-16s %.2f%s\n", cand.plan.name.c_str(),
                      memory::format_bytes(cand.estimate.peak).c_str(), cand.relative_speed,
                      c.fits && cand.plan.name == c.plan.name ? "   <- chosen" : "");
        std::cout << buf;
      }
      std::cout << "\n" << (c.fits ? "chosen: " : "refused: ") << c.message << "\n";
    }
    return c.fits ? 0 : 3;
  };
});

}  // namespace
}  // namespace i2v::cli
