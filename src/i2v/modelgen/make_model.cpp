#include "i2v/modelgen/make_model.h"

#include <chrono>
#include <fstream>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "i2v/error.h"
#include "i2v/io/safetensors.h"
#include "i2v/modelgen/component_builders.h"
#include "i2v/modelgen/output_folder.h"
#include "i2v/modelgen/parameter_specs.h"
#include "i2v/modelgen/random_init.h"

namespace i2v::modelgen {
namespace fs = std::filesystem;
namespace {

nlohmann::json read_json(const fs::path& path) {
  std::ifstream in(path);
  if (!in) throw IoError("cannot read " + path.string());
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw FormatError("invalid JSON in " + path.string() + ": " + e.what());
  }
}

// Copies configs, tokenizer files etc. — everything but weights.
void copy_non_weight_files(const fs::path& from, const fs::path& to) {
  fs::create_directories(to);
  for (const auto& entry : fs::directory_iterator(from)) {
    if (entry.is_directory()) continue;
    if (is_weights_file(entry.path())) continue;
    fs::copy_file(entry.path(), to / entry.path().filename(), fs::copy_options::overwrite_existing);
  }
}

io::StDType stored_type(at::ScalarType t) {
  switch (t) {
    case at::kFloat:
      return io::StDType::F32;
    case at::kHalf:
      return io::StDType::F16;
    case at::kBFloat16:
      return io::StDType::BF16;
    default:
      throw ConfigError("make-model stores f32, f16 or bf16 weights only");
  }
}

ComponentReport write_component(const std::string& name, const std::string& class_name,
                                const ComponentKind& kind, const fs::path& config_dir,
                                const fs::path& out_dir, const MakeModelOptions& options) {
  auto t0 = std::chrono::steady_clock::now();
  ComponentReport report{name, class_name};
  std::vector<ParamSpec> specs =
      parameter_specs([&] { return build_component(class_name, config_dir); });
  std::vector<io::SafetensorsWriter::Entry> entries;
  for (const auto& s : specs) {
    entries.push_back({s.name, stored_type(options.dtype), s.shape});
    report.parameters += s.numel();
  }
  report.tensors = static_cast<int64_t>(specs.size());
  fs::path file = out_dir / (kind.weights_name + ".safetensors");
  io::SafetensorsWriter writer(
      file, entries,
      {{"format", "pt"}, {"i2v_random_weights", "seed " + std::to_string(options.seed)}});
  uint64_t component_seed = options.seed;
  for (const auto& s : specs) {
    at::Tensor t = random_parameter(name + "." + s.name, s.shape, component_seed);
    writer.write(s.name, t.to(options.dtype));
  }
  writer.finish();
  report.bytes = fs::file_size(file);
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  spdlog::info("make-model: {} ({}) {} tensors, {} parameters, {:.1f} MiB in {:.1f} s", name,
               class_name, report.tensors, report.parameters, report.bytes / 1048576.0,
               report.seconds);
  return report;
}

}  // namespace

std::vector<ComponentReport> make_model(const MakeModelOptions& options) {
  const fs::path index_path = options.config_dir / "model_index.json";
  if (!fs::exists(index_path)) {
    throw IoError("no model_index.json in " + options.config_dir.string() +
                  " (make-model needs a diffusers config folder)");
  }
  nlohmann::json index = read_json(index_path);
  if (!index.is_object()) throw FormatError(index_path.string() + " is not a JSON object");

  OutputFolder folder(options.out_dir, options.overwrite);
  const fs::path& partial = folder.path();
  fs::copy_file(index_path, partial / "model_index.json");

  std::vector<ComponentReport> reports;
  for (const auto& [name, value] : index.items()) {
    if (name.empty() || name[0] == '_') continue;  // _class_name, _diffusers_version, ...
    if (!value.is_array() || value.size() != 2 || !value[1].is_string()) continue;
    const fs::path from = options.config_dir / name;
    if (!fs::is_directory(from)) {
      throw IoError("model_index.json names component '" + name + "' but " + from.string() +
                    " is not a folder");
    }
    copy_non_weight_files(from, partial / name);
    const std::string class_name = value[1].get<std::string>();
    if (const ComponentKind* kind = find_component_kind(class_name)) {
      reports.push_back(write_component(name, class_name, *kind, from, partial / name, options));
    }
  }

  folder.commit();
  return reports;
}

}  // namespace i2v::modelgen
