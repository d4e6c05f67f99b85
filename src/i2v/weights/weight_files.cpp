#include "i2v/weights/weight_files.h"

#include <algorithm>
#include <map>
#include <set>

#include "i2v/error.h"
#include "i2v/weights/json_config.h"

namespace i2v::weights {
namespace fs = std::filesystem;

namespace {

constexpr const char* kDiffusersBase = "diffusion_pytorch_model";
constexpr const char* kTransformersBase = "model";

bool starts_with(const std::string& s, const std::string& p) {
  return s.size() >= p.size() && s.compare(0, p.size(), p) == 0;
}
bool ends_with(const std::string& s, const std::string& p) {
  return s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0;
}

// A variant suffix is a plain word ("fp16", "bf16", "ema"); shard names ("fp16-00001-of-00002")
// and anything with dots are not variants.
bool is_variant_word(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) return false;
  return true;
}

// If `name` is "<prefix><word><suffix>", the word; else nullopt.
std::optional<std::string> middle_word(const std::string& name, const std::string& prefix,
                                       const std::string& suffix) {
  if (name.size() <= prefix.size() + suffix.size()) return std::nullopt;
  if (!starts_with(name, prefix) || !ends_with(name, suffix)) return std::nullopt;
  std::string word = name.substr(prefix.size(), name.size() - prefix.size() - suffix.size());
  if (!is_variant_word(word)) return std::nullopt;
  return word;
}

std::vector<std::string> folder_files(const fs::path& folder) {
  std::error_code ec;
  if (!fs::is_directory(folder, ec))
    throw IoError("component folder " + folder.string() + " does not exist");
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(folder, ec)) {
    // is_regular_file follows symlinks (the HF cache links snapshot files to blobs).
    if (fs::is_regular_file(entry.path(), ec)) names.push_back(entry.path().filename().string());
  }
  if (ec) throw IoError("cannot list " + folder.string() + ": " + ec.message());
  std::sort(names.begin(), names.end());
  return names;
}

// The shards an index names, checked to exist.
WeightFiles read_index(const fs::path& index_path, const std::string& variant) {
  nlohmann::json j = read_json_file(index_path);
  if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
    throw FormatError(index_path.string() +
                      ": a sharded-weights index needs a \"weight_map\" object");
  std::set<std::string> shards;
  for (const auto& [tensor, shard] : j["weight_map"].items()) {
    if (!shard.is_string())
      throw FormatError(index_path.string() + ": weight_map entry '" + tensor +
                        "' must name a shard file, got " + shard.dump());
    std::string s = shard.get<std::string>();
    if (s.empty() || fs::path(s).is_absolute() || s.find("..") != std::string::npos)
      throw FormatError(index_path.string() + ": weight_map entry '" + tensor +
                        "' names an invalid shard path '" + s + "'");
    shards.insert(s);
  }
  if (shards.empty()) throw FormatError(index_path.string() + ": weight_map is empty");
  WeightFiles w;
  w.variant = variant;
  w.index = index_path;
  std::vector<std::string> missing;
  for (const auto& s : shards) {
    fs::path p = index_path.parent_path() / s;
    std::error_code ec;
    if (!fs::is_regular_file(p, ec)) missing.push_back(s);
    w.files.push_back(p);
  }
  if (!missing.empty()) {
    std::string list;
    for (const auto& m : missing) list += (list.empty() ? "" : ", ") + m;
    throw IoError(index_path.string() + " names " + std::to_string(missing.size()) + " of " +
                  std::to_string(shards.size()) + " shard files that do not exist in " +
                  index_path.parent_path().string() + ": " + list + " (an incomplete download?)");
  }
  return w;
}

struct FolderScan {
  std::map<std::string, fs::path> singles;  // variant -> file
  std::map<std::string, fs::path> indexes;  // variant -> index file
  std::vector<std::string> pickles;         // .bin/.ckpt/.pt/.pth weight files
};

FolderScan scan_base(const fs::path& folder, const std::vector<std::string>& names,
                     const std::string& base) {
  FolderScan scan;
  for (const auto& n : names) {
    if (n == base + ".safetensors") {
      scan.singles[""] = folder / n;
    } else if (auto v = middle_word(n, base + ".", ".safetensors")) {
      scan.singles[*v] = folder / n;
    } else if (n == base + ".safetensors.index.json") {
      scan.indexes[""] = folder / n;
    } else if (auto v2 = middle_word(n, base + ".safetensors.index.", ".json")) {
      scan.indexes[*v2] = folder / n;
    } else if (auto v3 = middle_word(n, base + ".", ".safetensors.index.json")) {
      scan.indexes[*v3] = folder / n;
    } else if (starts_with(n, base) &&
               (ends_with(n, ".bin") || ends_with(n, ".bin.index.json") || ends_with(n, ".ckpt") ||
                ends_with(n, ".pt") || ends_with(n, ".pth"))) {
      scan.pickles.push_back(n);
    }
  }
  return scan;
}

std::string describe(const WeightFiles& w) {
  std::string s = w.variant.empty() ? "no variant" : "variant " + w.variant;
  s += ": ";
  if (w.index)
    return s + w.index->filename().string() + " (" + std::to_string(w.files.size()) + " shards)";
  return s + w.files.front().filename().string();
}

std::string base_names(const std::string& library) {
  return library == "transformers" ? std::string(kTransformersBase) + " / " + kDiffusersBase
                                   : std::string(kDiffusersBase) + " / " + kTransformersBase;
}

}  // namespace

VariantMode parse_variant_mode(const std::string& s) {
  if (s == "auto") return VariantMode::Auto;
  if (s == "none" || s == "fp32") return VariantMode::None;
  if (s == "fp16") return VariantMode::Fp16;
  if (s == "bf16") return VariantMode::Bf16;
  throw ConfigError("unknown weights variant '" + s + "' (use auto, none, fp16 or bf16)");
}

std::string to_string(VariantMode m) {
  switch (m) {
    case VariantMode::Auto:
      return "auto";
    case VariantMode::None:
      return "none";
    case VariantMode::Fp16:
      return "fp16";
    case VariantMode::Bf16:
      return "bf16";
  }
  return "?";
}

std::vector<std::string> variant_preference(const VariantPolicy& policy) {
  switch (policy.mode) {
    case VariantMode::None:
      return {""};
    case VariantMode::Fp16:
      return {"fp16"};
    case VariantMode::Bf16:
      return {"bf16"};
    case VariantMode::Auto:
      break;
  }
  // fp16 -> bf16 and bf16 -> fp16 both round, but reading half the bytes is worth it; a full
  // precision file is never worse than the other half format.
  if (policy.compute_dtype == at::kBFloat16) return {"bf16", "fp16", ""};
  if (policy.compute_dtype == at::kHalf) return {"fp16", "", "bf16"};
  return {"", "fp16", "bf16"};
}

std::vector<WeightFiles> list_weight_files(const fs::path& folder, const std::string& library) {
  std::vector<std::string> names = folder_files(folder);
  std::vector<std::string> bases = {kDiffusersBase, kTransformersBase};
  if (library == "transformers") std::swap(bases[0], bases[1]);
  for (const auto& base : bases) {
    FolderScan scan = scan_base(folder, names, base);
    if (scan.singles.empty() && scan.indexes.empty()) continue;
    std::vector<WeightFiles> out;
    std::set<std::string> variants;
    for (const auto& [v, p] : scan.singles) variants.insert(v);
    for (const auto& [v, p] : scan.indexes) variants.insert(v);
    for (const auto& v : variants) {
      auto single = scan.singles.find(v);
      if (single != scan.singles.end())
        out.push_back({v, {single->second}, std::nullopt});
      else
        out.push_back(read_index(scan.indexes.at(v), v));
    }
    return out;
  }
  return {};
}

WeightFiles find_weight_files(const fs::path& folder, const std::string& library,
                              const VariantPolicy& policy) {
  std::vector<WeightFiles> all = list_weight_files(folder, library);
  if (all.empty()) {
    std::vector<std::string> names = folder_files(folder);
    std::vector<std::string> pickles;
    for (const char* base : {kDiffusersBase, kTransformersBase})
      for (auto& p : scan_base(folder, names, base).pickles) pickles.push_back(p);
    if (!pickles.empty()) {
      std::string list;
      for (const auto& p : pickles) list += (list.empty() ? "" : ", ") + p;
      throw FormatError("only safetensors weights are supported, but " + folder.string() +
                        " has only PyTorch pickle weights (" + list +
                        "); convert them to .safetensors first");
    }
    throw IoError("no weight files in " + folder.string() + " (looked for " + base_names(library) +
                  "[.<variant>].safetensors and *.safetensors.index.json)");
  }
  std::vector<std::string> wanted = variant_preference(policy);
  for (const auto& v : wanted)
    for (const auto& w : all)
      if (w.variant == v) return w;
  if (policy.mode == VariantMode::Auto) return all.front();  // some other variant (e.g. "ema")
  std::string list;
  for (const auto& w : all) list += (list.empty() ? "" : "; ") + describe(w);
  throw ConfigError(
      "no " +
      (wanted.front().empty() ? std::string("full-precision (no variant)") : wanted.front()) +
      " weights in " + folder.string() + " (found " + list + "); choose another --variant");
}

StateDict open_weight_files(const WeightFiles& files) {
  StateDict sd = StateDict::open(files.files);
  if (!files.index) return sd;
  nlohmann::json j = read_json_file(*files.index);
  std::vector<std::string> problems;
  std::set<std::string> listed;
  for (const auto& [tensor, shard] : j["weight_map"].items()) {
    listed.insert(tensor);
    if (!sd.contains(tensor))
      problems.push_back("'" + tensor + "' is in the index but in no shard");
    else if (sd.file_of(tensor).filename() != fs::path(shard.get<std::string>()).filename())
      problems.push_back("'" + tensor + "' is in " + sd.file_of(tensor).filename().string() +
                         ", the index says " + shard.get<std::string>());
  }
  for (const auto& name : sd.names())
    if (!listed.count(name))
      problems.push_back("'" + name + "' (in " + sd.file_of(name).filename().string() +
                         ") is not in the index");
  if (!problems.empty()) {
    std::string msg = files.index->string() + " does not match its shards (" +
                      std::to_string(problems.size()) + " problems):";
    for (size_t i = 0; i < problems.size() && i < 20; ++i) msg += "\n  " + problems[i];
    if (problems.size() > 20)
      msg += "\n  ... and " + std::to_string(problems.size() - 20) + " more";
    throw FormatError(msg);
  }
  return sd;
}

}  // namespace i2v::weights
