#include "i2v/lora/lora_file.h"

#include <map>
#include <set>

#include "i2v/error.h"
#include "i2v/io/safetensors.h"
#include "i2v/io/sha256.h"

namespace i2v::lora {
namespace {

bool starts_with(const std::string& s, const std::string& p) {
  return s.rfind(p, 0) == 0;
}
bool ends_with(const std::string& s, const std::string& p) {
  return s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0;
}

enum class Part { Up, Down, Alpha };

struct Parsed {
  std::string component, module, layout;
  bool flat = false;
  Part part = Part::Up;
};

// Splits one key; false when it is no LoRA key this reader knows.
bool parse_key(std::string key, Parsed& out) {
  if (starts_with(key, "base_model.model.")) key = key.substr(17);
  // kohya: lora_unet_<flat>.<part>, lora_te_<flat>.<part>
  for (const auto& [prefix, component] :
       {std::pair<std::string, std::string>{"lora_unet_", "unet"}, {"lora_te_", "text_encoder"}}) {
    if (!starts_with(key, prefix)) continue;
    const size_t dot = key.find('.');
    if (dot == std::string::npos) return false;
    const std::string part = key.substr(dot + 1);
    if (part == "lora_up.weight")
      out.part = Part::Up;
    else if (part == "lora_down.weight")
      out.part = Part::Down;
    else if (part == "alpha")
      out.part = Part::Alpha;
    else
      return false;
    out.component = component;
    out.module = key.substr(prefix.size(), dot - prefix.size());
    out.flat = true;
    out.layout = "kohya";
    return true;
  }
  out.component = "unet";
  for (const std::string c : {"unet", "text_encoder"}) {
    if (starts_with(key, c + ".")) {
      out.component = c;
      key = key.substr(c.size() + 1);
      break;
    }
  }
  // Attention processors: <attn>.processor.to_q_lora.down.weight
  static const std::map<std::string, std::string> processor_targets = {{"to_q_lora", "to_q"},
                                                                       {"to_k_lora", "to_k"},
                                                                       {"to_v_lora", "to_v"},
                                                                       {"to_out_lora", "to_out.0"}};
  const size_t proc = key.find(".processor.");
  if (proc != std::string::npos) {
    const std::string rest = key.substr(proc + 11);  // to_q_lora.down.weight
    const size_t dot = rest.find('.');
    if (dot == std::string::npos) return false;
    auto target = processor_targets.find(rest.substr(0, dot));
    if (target == processor_targets.end()) return false;
    const std::string part = rest.substr(dot + 1);
    if (part == "up.weight")
      out.part = Part::Up;
    else if (part == "down.weight")
      out.part = Part::Down;
    else if (part == "alpha")
      out.part = Part::Alpha;
    else
      return false;
    out.module = key.substr(0, proc) + "." + target->second;
    out.layout = "attention-processor";
    return true;
  }
  static const std::vector<std::pair<std::string, Part>> suffixes = {
      {".lora_A.weight", Part::Down},
      {".lora_B.weight", Part::Up},
      {".lora.down.weight", Part::Down},
      {".lora.up.weight", Part::Up},
      {".lora_down.weight", Part::Down},
      {".lora_up.weight", Part::Up},
      {".alpha", Part::Alpha}};
  for (const auto& [suffix, part] : suffixes) {
    if (!ends_with(key, suffix)) continue;
    out.part = part;
    out.module = key.substr(0, key.size() - suffix.size());
    out.layout = "peft";
    return !out.module.empty();
  }
  return false;
}

}  // namespace

LoraFile read_lora_file(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw IoError("LoRA file " + path.string() + " does not exist or is not a file");
  LoraFile f;
  f.path = path;
  f.bytes = static_cast<int64_t>(std::filesystem::file_size(path, ec));
  std::map<std::string, at::Tensor> tensors;
  try {
    tensors = io::load_safetensors(path);
  } catch (const Error& e) {
    throw FormatError("LoRA file " + path.string() +
                      " is not a readable safetensors file: " + e.what());
  }
  f.sha256 = io::sha256_file(path);
  std::map<std::tuple<std::string, std::string, bool>, FileAdapter> by_module;
  std::set<std::string> layouts;
  for (const auto& [key, t] : tensors) {
    Parsed p;
    if (!parse_key(key, p)) {
      f.problems.push_back(key +
                           ": not a LoRA weight i2v reads (lora_A/lora_B, lora_down/lora_up,"
                           " processor to_*_lora, alpha)");
      continue;
    }
    if (!t.is_floating_point()) {
      f.problems.push_back(key + ": stored as " + std::string(c10::toString(t.scalar_type())) +
                           ", not a floating-point type");
      continue;
    }
    layouts.insert(p.layout);
    FileAdapter& a = by_module[{p.component, p.module, p.flat}];
    a.component = p.component;
    a.module = p.module;
    a.flat = p.flat;
    if (a.key.empty()) a.key = key;
    at::Tensor& slot = p.part == Part::Up ? a.up : p.part == Part::Down ? a.down : a.alpha;
    slot = t.to(at::kFloat, /*non_blocking=*/false, /*copy=*/true);  // not a view of the file
  }
  for (auto& [id, a] : by_module) f.adapters.push_back(std::move(a));
  for (const auto& l : layouts) f.layout += (f.layout.empty() ? "" : "+") + l;
  if (f.adapters.empty())
    throw FormatError("LoRA file " + path.string() + " holds no LoRA weights (" +
                      std::to_string(tensors.size()) + " tensors, none named like a LoRA)");
  return f;
}

}  // namespace i2v::lora
