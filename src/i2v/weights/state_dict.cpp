#include "i2v/weights/state_dict.h"

#include <ATen/core/grad_mode.h>

#include <sstream>

#include "i2v/error.h"
#include "i2v/quant/dequantize.h"
#include "i2v/quant/quantized_weight.h"

namespace i2v::weights {
namespace fs = std::filesystem;

namespace {

// At most this many names per kind of problem are listed in a load error; the rest are counted.
constexpr size_t kMaxListed = 20;

std::string shape_string(c10::IntArrayRef shape) {
  std::ostringstream s;
  s << "[";
  for (size_t i = 0; i < shape.size(); ++i) s << (i ? ", " : "") << shape[i];
  s << "]";
  return s.str();
}

std::string files_string(const std::vector<fs::path>& files) {
  if (files.empty()) return "(no files)";
  std::string out;
  for (size_t i = 0; i < files.size() && i < 4; ++i) out += (i ? ", " : "") + files[i].string();
  if (files.size() > 4) out += " and " + std::to_string(files.size() - 4) + " more";
  return out;
}

void append_list(std::ostringstream& msg, const std::string& title,
                 const std::vector<std::string>& items) {
  if (items.empty()) return;
  msg << "\n  " << items.size() << " " << title << ":";
  for (size_t i = 0; i < items.size() && i < kMaxListed; ++i) msg << "\n    " << items[i];
  if (items.size() > kMaxListed) msg << "\n    ... and " << items.size() - kMaxListed << " more";
}

bool is_floating(at::ScalarType t) {
  return at::isFloatingType(t);
}

// A module tensor to be filled: a parameter or a buffer, by its dotted name.
struct Slot {
  std::string name;
  at::Tensor tensor;
};

std::vector<Slot> module_slots(const torch::nn::Module& module) {
  std::vector<Slot> slots;
  for (const auto& p : module.named_parameters(/*recurse=*/true))
    if (p.value().defined()) slots.push_back({p.key(), p.value()});
  for (const auto& b : module.named_buffers(/*recurse=*/true))
    if (b.value().defined()) slots.push_back({b.key(), b.value()});
  return slots;
}

// What is wrong with the scale of the 8-bit weight `name`, if anything: int8 needs one; fp8
// may go without (scale 1, as published fp8 checkpoints are). A scale holds one float per
// output channel: shape [out] or [out, 1, ...].
std::optional<std::string> scale_problem(const StateDict& weights, const std::string& name,
                                         quant::WeightFormat format,
                                         const std::vector<int64_t>& shape) {
  const std::string scale = name + quant::kScaleSuffix;
  if (!weights.contains(scale)) {
    if (format == quant::WeightFormat::Int8)
      return "int8 weight without its per-channel scale '" + scale + "'";
    return std::nullopt;
  }
  const io::TensorInfo& s = weights.info(scale);
  const at::ScalarType t = io::default_scalar_type(s.dtype);
  if (!is_floating(t) || quant::format_of(s.dtype))
    return "its scale '" + scale + "' is " + io::to_string(s.dtype) + ", not a float type";
  const int64_t out = shape.empty() ? 0 : shape[0];
  bool fits = !s.shape.empty() && s.shape[0] == out;
  for (size_t d = 1; d < s.shape.size(); ++d) fits = fits && s.shape[d] == 1;
  if (!fits)
    return "its scale '" + scale + "' has shape " + shape_string(s.shape) + ", expected [" +
           std::to_string(out) + "] (one per output channel)";
  return std::nullopt;
}

// The scales of the 8-bit weight `name` as float32 [out] (ones when the file has none).
at::Tensor scale_of(const StateDict& weights, const std::string& name, int64_t out) {
  const std::string scale = name + quant::kScaleSuffix;
  if (!weights.contains(scale)) return at::ones({out}, at::kFloat);
  return weights.tensor(scale, at::kFloat).reshape({out}).contiguous();
}

}  // namespace

StateDict StateDict::open(const std::vector<fs::path>& files) {
  StateDict sd;
  sd.files_ = files;
  for (const auto& file : files) {
    auto f = io::SafetensorsFile::open(file);
    size_t index = sd.open_files_.size();
    for (const auto& t : f->tensors()) {
      auto [it, inserted] = sd.where_.emplace(t.name, index);
      if (!inserted)
        throw FormatError("tensor '" + t.name + "' appears in two weight files: " +
                          sd.files_[it->second].string() + " and " + file.string());
    }
    sd.open_files_.push_back(std::move(f));
  }
  return sd;
}

std::vector<std::string> StateDict::names() const {
  std::vector<std::string> out;
  out.reserve(where_.size());
  for (const auto& [name, index] : where_) out.push_back(name);
  return out;  // std::map keeps them sorted
}

bool StateDict::is_scale_of_8bit(const std::string& name) const {
  const std::string suffix = quant::kScaleSuffix;
  if (name.size() <= suffix.size() ||
      name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0)
    return false;
  const std::string weight = name.substr(0, name.size() - suffix.size());
  return contains(weight) && quant::format_of(info(weight).dtype).has_value();
}

std::optional<quant::WeightFormat> StateDict::quantized_format() const {
  for (const auto& [name, index] : where_)
    if (auto f = quant::format_of(info(name).dtype)) return f;
  return std::nullopt;
}

at::Tensor StateDict::stored(const std::string& name) const {
  auto it = where_.find(name);
  if (it == where_.end())
    throw FormatError("tensor '" + name + "' is not in " + files_string(files_));
  return open_files_[it->second]->stored(name);
}

void StateDict::release_pages(const std::string& name) const {
  auto it = where_.find(name);
  if (it == where_.end())
    throw FormatError("tensor '" + name + "' is not in " + files_string(files_));
  open_files_[it->second]->release_pages(name);
}

std::optional<at::ScalarType> StateDict::float_dtype() const {
  std::optional<at::ScalarType> dtype;
  for (const auto& [name, index] : where_) {
    if (quant::format_of(info(name).dtype) || is_scale_of_8bit(name)) continue;
    const at::ScalarType t = io::default_scalar_type(info(name).dtype);
    if (!at::isFloatingType(t)) continue;
    if (dtype && *dtype != t) return std::nullopt;
    dtype = t;
  }
  return dtype;
}

bool StateDict::contains(const std::string& name) const {
  return where_.count(name) != 0;
}

const io::TensorInfo& StateDict::info(const std::string& name) const {
  auto it = where_.find(name);
  if (it == where_.end())
    throw FormatError("tensor '" + name + "' is not in " + files_string(files_));
  return *open_files_[it->second]->find(name);
}

const fs::path& StateDict::file_of(const std::string& name) const {
  auto it = where_.find(name);
  if (it == where_.end())
    throw FormatError("tensor '" + name + "' is not in " + files_string(files_));
  return files_[it->second];
}

at::Tensor StateDict::tensor(const std::string& name, std::optional<at::ScalarType> dtype) const {
  auto it = where_.find(name);
  if (it == where_.end())
    throw FormatError("tensor '" + name + "' is not in " + files_string(files_));
  return open_files_[it->second]->tensor(name, dtype);
}

void load_state_dict_strict(torch::nn::Module& module, const StateDict& weights,
                            const std::string& component, const LoadOptions& options) {
  const std::string& prefix = options.prefix;
  std::vector<Slot> slots = module_slots(module);

  // The file's names in scope (those under `prefix`), prefix stripped; the scales of 8-bit
  // weights belong to their weight and are not matched on their own.
  std::map<std::string, std::string> in_file;  // module name -> file name
  for (const auto& name : weights.names())
    if (name.compare(0, prefix.size(), prefix) == 0 && !weights.is_scale_of_8bit(name))
      in_file.emplace(name.substr(prefix.size()), name);

  std::vector<std::string> missing, unexpected, mismatched;
  std::map<std::string, bool> wanted;
  for (const auto& slot : slots) {
    wanted[slot.name] = true;
    auto it = in_file.find(slot.name);
    if (it == in_file.end()) {
      missing.push_back(prefix + slot.name + " " + shape_string(slot.tensor.sizes()));
      continue;
    }
    const io::TensorInfo& info = weights.info(it->second);
    at::ScalarType file_type = io::default_scalar_type(info.dtype);
    if (c10::IntArrayRef(info.shape) != slot.tensor.sizes()) {
      mismatched.push_back(it->second + ": file " + shape_string(info.shape) + ", model " +
                           shape_string(slot.tensor.sizes()));
    } else if (auto format = quant::format_of(info.dtype)) {
      if (auto problem = scale_problem(weights, it->second, *format, info.shape))
        mismatched.push_back(it->second + ": " + *problem);
      else if (!is_floating(slot.tensor.scalar_type()))
        mismatched.push_back(it->second + ": an 8-bit weight in a " +
                             std::string(c10::toString(slot.tensor.scalar_type())) + " tensor");
    } else if (is_floating(file_type) != is_floating(slot.tensor.scalar_type())) {
      mismatched.push_back(it->second + ": file dtype " + io::to_string(info.dtype) +
                           ", model dtype " +
                           std::string(c10::toString(slot.tensor.scalar_type())));
    }
  }
  for (const auto& [name, file_name] : in_file)
    if (!wanted.count(name))
      unexpected.push_back(file_name + " " + shape_string(weights.info(file_name).shape));

  if (!missing.empty() || !unexpected.empty() || !mismatched.empty()) {
    std::ostringstream msg;
    msg << "the weights of '" << component << "' do not fit the model (" << missing.size()
        << " missing, " << unexpected.size() << " unexpected, " << mismatched.size()
        << " mis-shaped tensors" << (prefix.empty() ? "" : ", under prefix '" + prefix + "'")
        << "; files: " << files_string(weights.files()) << ")";
    append_list(msg, "missing (in the model, not in the files)", missing);
    append_list(msg, "unexpected (in the files, not in the model)", unexpected);
    append_list(msg, "mis-shaped", mismatched);
    throw ShapeError(msg.str());
  }

  at::NoGradGuard no_grad;
  for (auto& slot : slots) {
    at::Tensor& target = slot.tensor;
    const std::string& file_name = in_file.at(slot.name);
    // Integer buffers (ids, counters) keep their own type; floating tensors take the requested
    // dtype, else the module's.
    at::ScalarType dtype = target.scalar_type();
    if (options.dtype && is_floating(dtype)) dtype = *options.dtype;
    if (auto format = quant::format_of(weights.info(file_name).dtype)) {
      at::Tensor q = weights.stored(file_name);
      quant::QuantizedWeight w{*format, scale_of(weights, file_name, q.size(0))};
      if (options.keep_8bit && target.device().is_cpu()) {
        quant::mark_quantized(q, std::move(w));
        target.set_requires_grad(false);  // integer data cannot carry gradients (frozen weight)
        target.set_data(q);
      } else {
        target.set_data(quant::dequantize(q, w, dtype).to(target.device()));
      }
      continue;
    }
    at::Tensor t = weights.tensor(file_name, dtype);
    if (!target.device().is_cpu()) {
      target.set_data(t.to(target.device(), dtype, /*non_blocking=*/false, /*copy=*/true));
    } else if (options.zero_copy || t.scalar_type() != target.scalar_type()) {
      // Either sharing the mapping is wanted, or the parameter changes dtype (then `t` is a fresh
      // tensor unless it is a view of a file that already has the new dtype).
      bool aliases_file = io::default_scalar_type(weights.info(file_name).dtype) == dtype;
      target.set_data(options.zero_copy || !aliases_file ? t : t.clone());
    } else {
      target.copy_(t);
    }
  }
}

}  // namespace i2v::weights
