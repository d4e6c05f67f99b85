#include "i2v/modelgen/quantize_model.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <set>

#include "i2v/error.h"
#include "i2v/io/safetensors.h"
#include "i2v/modelgen/output_folder.h"
#include "i2v/quant/quantize.h"
#include "i2v/quant/skip_list.h"
#include "i2v/weights/model_dir.h"

namespace i2v::modelgen {
namespace fs = std::filesystem;
namespace {

// Weight files: a hard link when the file system allows it (i2v only ever reads them), else a
// copy. Small files (configs, vocabularies) are copied, so editing one never touches the source.
void link_or_copy(const fs::path& from, const fs::path& to) {
  const fs::path source = fs::canonical(from);  // Hugging Face caches hold symlinks to blobs
  std::error_code ec;
  if (is_weights_file(from)) fs::create_hard_link(source, to, ec);
  if (!is_weights_file(from) || ec) fs::copy_file(source, to, fs::copy_options::overwrite_existing);
}

void copy_folder(const fs::path& from, const fs::path& to, bool weights_too) {
  fs::create_directories(to);
  for (const auto& entry : fs::directory_iterator(from)) {
    const fs::path target = to / entry.path().filename();
    if (entry.is_directory()) {
      copy_folder(entry.path(), target, weights_too);
    } else if (weights_too || !is_weights_file(entry.path())) {
      link_or_copy(entry.path(), target);
    }
  }
}

uint64_t bytes_of(const std::vector<fs::path>& files) {
  uint64_t n = 0;
  for (const auto& f : files) n += fs::file_size(f);
  return n;
}

QuantizeReport quantize_component(const weights::ModelDir& dir, const std::string& component,
                                  const fs::path& out_folder, const QuantizeOptions& options) {
  const auto t0 = std::chrono::steady_clock::now();
  QuantizeReport report{component};
  weights::VariantPolicy policy;
  policy.mode = options.variant;
  policy.compute_dtype = at::kFloat;  // quantize from the most precise files there are
  const weights::WeightFiles files = dir.weight_files(component, policy);
  const weights::StateDict sd = weights::open_weight_files(files);
  if (auto f = sd.quantized_format()) {
    throw ConfigError("the " + component + " of " + dir.description() + " is already " +
                      quant::to_string(*f) + ": quantize from the original weights");
  }
  report.bytes_before = bytes_of(files.files);

  std::vector<io::SafetensorsWriter::Entry> entries;
  std::set<std::string> quantized;
  for (const auto& name : sd.names()) {
    const io::TensorInfo& info = sd.info(name);
    report.parameters += info.numel();
    const bool floating = at::isFloatingType(io::default_scalar_type(info.dtype));
    if (floating && !quant::keeps_precision(component, name, info.shape)) {
      entries.push_back({name, quant::stored_dtype(options.format), info.shape});
      entries.push_back({name + quant::kScaleSuffix, io::StDType::F32, {info.shape[0]}});
      quantized.insert(name);
      report.quantized_parameters += info.numel();
    } else {
      entries.push_back({name, info.dtype, info.shape});
    }
  }
  report.quantized = static_cast<int64_t>(quantized.size());
  report.kept = static_cast<int64_t>(sd.size()) - report.quantized;

  // transformers' components are model.safetensors, diffusers' diffusion_pytorch_model.
  const std::string first = files.files.front().filename().string();
  const std::string base = first.rfind("model", 0) == 0 ? "model" : "diffusion_pytorch_model";
  const fs::path out_file = out_folder / (base + ".safetensors");
  const std::string scheme = quant::to_string(options.format) +
                             " per output channel: <name> 8-bit, <name>" + quant::kScaleSuffix +
                             " F32 [out]; W = scale * q";
  io::SafetensorsWriter writer(out_file, entries,
                               {{"format", "pt"},
                                {quant::kMetadataKey, scheme},
                                {"i2v_quantized_from", files.files.front().filename().string()}});
  for (const auto& name : sd.names()) {
    if (quantized.count(name)) {
      quant::QuantizedTensor q = quant::quantize_per_channel(sd.tensor(name), options.format);
      writer.write(name, q.q);
      writer.write(name + quant::kScaleSuffix, q.scale);
    } else {
      writer.write(name, sd.stored(name));  // unchanged bytes
    }
    sd.release_pages(name);  // bounded memory: the source is read once, front to back
  }
  writer.finish();
  report.bytes_after = fs::file_size(out_file);
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  spdlog::info("quantize: {} {} of {} tensors to {} ({:.0f} -> {:.0f} MiB) in {:.1f} s", component,
               report.quantized, report.quantized + report.kept, quant::to_string(options.format),
               report.bytes_before / 1048576.0, report.bytes_after / 1048576.0, report.seconds);
  return report;
}

}  // namespace

std::vector<QuantizeReport> quantize_model(const QuantizeOptions& options) {
  if (options.components.empty()) throw ConfigError("quantize: no component to quantize");
  for (const auto& c : options.components) {
    if (!quant::is_quantizable_component(c)) {
      throw ConfigError("quantize: cannot quantize '" + c +
                        "' (choose among unet, text_encoder, image_encoder; the VAE and the "
                        "tokenizer/scheduler stay as they are)");
    }
  }
  const weights::ModelDir dir = weights::ModelDir::open(options.model);
  for (const auto& c : options.components) {
    if (!dir.index().has(c)) throw ConfigError("quantize: the model has no component '" + c + "'");
  }
  if (fs::exists(options.out_dir) && fs::equivalent(options.out_dir, dir.root())) {
    throw ConfigError("quantize: --out must differ from the model folder");
  }
  OutputFolder folder(options.out_dir, options.overwrite);
  const fs::path& partial = folder.path();

  std::vector<QuantizeReport> reports;
  for (const auto& entry : fs::directory_iterator(dir.root())) {
    const std::string name = entry.path().filename().string();
    const fs::path target = partial / name;
    const bool chosen = std::find(options.components.begin(), options.components.end(), name) !=
                        options.components.end();
    if (!entry.is_directory()) {
      link_or_copy(entry.path(), target);
    } else if (chosen) {
      copy_folder(entry.path(), target, /*weights_too=*/false);
      reports.push_back(quantize_component(dir, name, target, options));
    } else {
      copy_folder(entry.path(), target, /*weights_too=*/true);
    }
  }
  folder.commit();
  return reports;
}

}  // namespace i2v::modelgen
