// `i2v inspect`: what a pipeline folder holds — components, classes, the weight files a run would
// read, their tensors, parameters, dtypes and bytes — and whether every weight file opens.
#include <iomanip>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>

#include <nlohmann/json.hpp>

#include "command_registry.h"
#include "i2v/error.h"
#include "i2v/weights/image_processor_config.h"
#include "i2v/weights/model_dir.h"
#include "i2v/weights/scheduler_config.h"

namespace i2v::cli {
namespace {

namespace fs = std::filesystem;
using weights::ModelDir;
using weights::StateDict;
using weights::VariantPolicy;
using weights::WeightFiles;

struct InspectOptions {
  std::string model;
  std::string revision = "main";
  std::string variant = "auto";
  std::string dtype = "fp32";
  bool json = false;
};

at::ScalarType parse_compute_dtype(const std::string& s) {
  if (s == "fp32" || s == "float32") return at::kFloat;
  if (s == "bf16" || s == "bfloat16") return at::kBFloat16;
  if (s == "fp16" || s == "float16") return at::kHalf;
  throw ConfigError("unknown --dtype '" + s + "' (use fp32, bf16 or fp16)");
}

std::string human_bytes(uint64_t b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(b);
  int u = 0;
  while (v >= 1024.0 && u < 4) {
    v /= 1024.0;
    ++u;
  }
  std::ostringstream s;
  s << std::fixed << std::setprecision(u == 0 ? 0 : 1) << v << " " << units[u];
  return s.str();
}

std::string relative_to(const fs::path& p, const fs::path& root) {
  std::error_code ec;
  auto r = fs::relative(p, root, ec);
  return ec || r.empty() ? p.string() : r.string();
}

std::string variant_label(const std::string& v) {
  return v.empty() ? "none" : v;
}

// Statistics of one opened weight set.
struct WeightStats {
  int64_t tensors = 0;
  int64_t parameters = 0;  // elements over all tensors
  uint64_t file_bytes = 0;
  std::map<std::string, int64_t> dtype_tensors;  // "F32" -> count
};

WeightStats stats_of(const StateDict& sd) {
  WeightStats s;
  for (const auto& name : sd.names()) {
    const auto& info = sd.info(name);
    ++s.tensors;
    s.parameters += info.numel();
    ++s.dtype_tensors[io::to_string(info.dtype)];
  }
  for (const auto& f : sd.files()) {
    std::error_code ec;
    auto size = fs::file_size(f, ec);
    if (!ec) s.file_bytes += size;
  }
  return s;
}

int run_inspect(const InspectOptions& opt) {
  VariantPolicy policy;
  policy.mode = weights::parse_variant_mode(opt.variant);
  policy.compute_dtype = parse_compute_dtype(opt.dtype);
  ModelDir dir = ModelDir::open(opt.model, opt.revision);
  const auto& index = dir.index();

  nlohmann::json out = {
      {"model", dir.root().string()},   {"source", dir.description()},
      {"class_name", index.class_name}, {"diffusers_version", index.diffusers_version},
      {"variant", opt.variant},         {"compute_dtype", opt.dtype}};
  nlohmann::json comps = nlohmann::json::object();
  int64_t total_params = 0;
  uint64_t total_bytes = 0;
  int failures = 0;
  std::ostringstream text;
  text << "model: " << dir.description() << "\n"
       << "pipeline: " << index.class_name
       << (index.diffusers_version.empty() ? "" : " (diffusers " + index.diffusers_version + ")")
       << ", variant " << opt.variant << ", compute " << opt.dtype << "\n";

  for (const auto& name : index.names()) {
    const auto& spec = index.component(name);
    nlohmann::json c = {{"library", spec.library}, {"class_name", spec.class_name}};
    text << "\n" << name << ": " << spec.library << "." << spec.class_name << "\n";
    try {
      fs::path config = dir.config_path(name);
      c["config"] = relative_to(config, dir.root());
      text << "  config: " << relative_to(config, dir.root()) << "\n";
      // The configs i2v reads itself are parsed (and so validated) here too.
      if (spec.class_name == "DDIMScheduler") {
        auto sc = weights::DDIMSchedulerConfig::load(config);
        text << "  " << sc.num_train_timesteps << " train steps, " << sc.beta_schedule << ", "
             << sc.prediction_type << ", spacing " << sc.timestep_spacing << ", steps_offset "
             << sc.steps_offset << (sc.rescale_betas_zero_snr ? ", zero-terminal-SNR" : "") << "\n";
      } else if (spec.class_name == "CLIPImageProcessor") {
        auto ip = weights::ClipImageProcessorConfig::load(config);
        text << "  crop " << ip.crop_height << "x" << ip.crop_width << "\n";
      }
    } catch (const Error& e) {
      ++failures;
      c["config_error"] = e.what();
      text << "  config ERROR " << e.what() << "\n";
    }
    try {
      if (!dir.has_weights(name)) {
        comps[name] = c;
        continue;
      }
      WeightFiles chosen = dir.weight_files(name, policy);
      StateDict sd = weights::open_weight_files(chosen);
      WeightStats s = stats_of(sd);
      total_params += s.parameters;
      total_bytes += s.file_bytes;
      nlohmann::json files = nlohmann::json::array();
      for (const auto& f : chosen.files) files.push_back(relative_to(f, dir.root()));
      c["variant"] = variant_label(chosen.variant);
      c["files"] = files;
      if (chosen.index) c["index"] = relative_to(*chosen.index, dir.root());
      c["tensors"] = s.tensors;
      c["parameters"] = s.parameters;
      c["bytes"] = s.file_bytes;
      c["dtypes"] = s.dtype_tensors;

      text << "  weights: variant " << variant_label(chosen.variant) << ", "
           << (chosen.index ? relative_to(*chosen.index, dir.root()) + " (" +
                                  std::to_string(chosen.files.size()) + " shards)"
                            : relative_to(chosen.files.front(), dir.root()))
           << "\n  " << s.tensors << " tensors, " << s.parameters << " parameters, "
           << human_bytes(s.file_bytes) << ", dtypes:";
      for (const auto& [dt, n] : s.dtype_tensors) text << " " << dt << " x" << n;
      text << "\n";

      // Every other variant's files must open too (a broken fp16 file shows up here, not on the
      // day someone asks for it).
      nlohmann::json others = nlohmann::json::object();
      for (const auto& w : dir.available_weights(name)) {
        if (w.variant == chosen.variant) continue;
        try {
          StateDict other = weights::open_weight_files(w);
          others[variant_label(w.variant)] = "ok";
          text << "  also variant " << variant_label(w.variant) << ": ok (" << other.size()
               << " tensors)\n";
        } catch (const Error& e) {
          ++failures;
          others[variant_label(w.variant)] = e.what();
          text << "  also variant " << variant_label(w.variant) << ": ERROR " << e.what() << "\n";
        }
      }
      if (!others.empty()) c["other_variants"] = others;
    } catch (const Error& e) {
      ++failures;
      c["error"] = e.what();
      text << "  ERROR " << e.what() << "\n";
    }
    comps[name] = c;
  }
  out["components"] = comps;
  out["total_parameters"] = total_params;
  out["total_bytes"] = total_bytes;
  out["ok"] = failures == 0;
  text << "\ntotal: " << total_params << " parameters, " << human_bytes(total_bytes) << "; "
       << (failures == 0 ? "all weight files open" : std::to_string(failures) + " problem(s)")
       << "\n";

  if (opt.json)
    std::cout << out.dump(2) << "\n";
  else
    std::cout << text.str();
  return failures == 0 ? 0 : 1;
}

RegisterCommand reg(20, [](CLI::App& app, std::function<int()>& run) {
  auto opt = std::make_shared<InspectOptions>();
  auto* cmd = app.add_subcommand(
      "inspect",
      "List a pipeline's components, weight files, parameters and dtypes; check that "
      "every weight file opens");
  cmd->add_option("--model", opt->model,
                  "Pipeline folder (with model_index.json) or a repo id ORG/NAME in the Hugging "
                  "Face cache (offline; HF_HUB_CACHE / HF_HOME)")
      ->required();
  cmd->add_option("--revision", opt->revision, "Branch, tag or commit of a cached repo")
      ->capture_default_str();
  cmd->add_option("--variant", opt->variant, "Weights variant: auto, none, fp16 or bf16")
      ->check(CLI::IsMember({"auto", "none", "fp16", "bf16"}))
      ->capture_default_str();
  cmd->add_option("--dtype", opt->dtype,
                  "Compute dtype that --variant auto chooses for: fp32, bf16 or fp16")
      ->check(CLI::IsMember({"fp32", "bf16", "fp16"}))
      ->capture_default_str();
  cmd->add_flag("--json", opt->json, "Print JSON instead of text");
  run = [opt] { return run_inspect(*opt); };
});

}  // namespace
}  // namespace i2v::cli
