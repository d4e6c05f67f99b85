#include "i2v/io/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>

#include <nlohmann/json.hpp>

#include "i2v/error.h"
#include "i2v/io/fp8.h"

namespace i2v::io {
namespace fs = std::filesystem;

at::ScalarType default_scalar_type(StDType t) {
  switch (t) {
    case StDType::F64:
      return at::kDouble;
    case StDType::F32:
      return at::kFloat;
    case StDType::F16:
      return at::kHalf;
    case StDType::BF16:
      return at::kBFloat16;
    case StDType::I64:
      return at::kLong;
    case StDType::I32:
      return at::kInt;
    case StDType::I16:
      return at::kShort;
    case StDType::I8:
      return at::kChar;
    case StDType::U8:
      return at::kByte;
    case StDType::BOOL:
      return at::kBool;
    case StDType::F8_E4M3:
    case StDType::F8_E5M2:
      return at::kFloat;
  }
  return at::kFloat;
}

StDType st_dtype_of(at::ScalarType t) {
  switch (t) {
    case at::kDouble:
      return StDType::F64;
    case at::kFloat:
      return StDType::F32;
    case at::kHalf:
      return StDType::F16;
    case at::kBFloat16:
      return StDType::BF16;
    case at::kLong:
      return StDType::I64;
    case at::kInt:
      return StDType::I32;
    case at::kShort:
      return StDType::I16;
    case at::kChar:
      return StDType::I8;
    case at::kByte:
      return StDType::U8;
    case at::kBool:
      return StDType::BOOL;
    default:
      throw ConfigError(std::string("safetensors cannot store dtype ") + c10::toString(t));
  }
}

namespace {

at::Tensor decode_f8(const uint8_t* data, const TensorInfo& info) {
  at::Tensor out = at::empty(info.shape, at::kFloat);
  decode_fp8(data, out.data_ptr<float>(), info.numel(),
             info.dtype == StDType::F8_E4M3 ? Fp8Format::E4M3 : Fp8Format::E5M2);
  return out;
}

std::string errno_text() {
  return std::strerror(errno);
}

}  // namespace

std::shared_ptr<const SafetensorsFile> SafetensorsFile::open(const fs::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw IoError("cannot open " + path.string() + ": " + errno_text());
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw IoError("cannot read " + path.string() + ": not a regular file");
  }
  auto file = std::shared_ptr<SafetensorsFile>(new SafetensorsFile());
  file->path_ = path;
  file->file_size_ = static_cast<uint64_t>(st.st_size);
  if (file->file_size_ < 8) {
    ::close(fd);
    throw FormatError("invalid safetensors file " + path.string() +
                      ": the file is shorter than the 8-byte header length");
  }
  // Private copy-on-write mapping: tensors may be written to without touching the file.
  void* base = mmap(nullptr, file->file_size_, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (base == MAP_FAILED) throw IoError("cannot memory-map " + path.string() + ": " + errno_text());
  file->map_base_ = base;
  file->map_size_ = file->file_size_;
  uint64_t data_offset = 0;
  file->header_ =
      parse_file_image(static_cast<const uint8_t*>(base), file->file_size_, path.string(),
                       &data_offset);  // ~SafetensorsFile unmaps on throw
  file->data_ = static_cast<const uint8_t*>(base) + data_offset;
  for (size_t i = 0; i < file->header_.tensors.size(); ++i) {
    file->index_[file->header_.tensors[i].name] = i;
  }
  file->self_ = file;
  return file;
}

SafetensorsFile::~SafetensorsFile() {
  if (map_base_) munmap(map_base_, map_size_);
}

const TensorInfo* SafetensorsFile::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &header_.tensors[it->second];
}

namespace {
void release_range(const uint8_t* begin, size_t size) {
  const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const uintptr_t b = (reinterpret_cast<uintptr_t>(begin) + page - 1) / page * page;
  const uintptr_t e = (reinterpret_cast<uintptr_t>(begin) + size) / page * page;
  if (e > b) madvise(reinterpret_cast<void*>(b), e - b, MADV_DONTNEED);
}
}  // namespace

at::Tensor SafetensorsFile::view_or_copy(const TensorInfo& info, at::ScalarType stored,
                                         bool* view) const {
  const uint8_t* bytes = data_ + info.begin;
  const size_t align = element_size(info.dtype);
  if (reinterpret_cast<uintptr_t>(bytes) % align == 0) {
    // Zero copy: the tensor keeps this file (and so the mapping) alive.
    auto keep = new std::shared_ptr<const SafetensorsFile>(self_.lock());
    if (view) *view = true;
    return at::from_blob(
        const_cast<uint8_t*>(bytes), info.shape, [keep](void*) { delete keep; },
        at::TensorOptions().dtype(stored));
  }
  at::Tensor t = at::empty(info.shape, at::TensorOptions().dtype(stored));
  std::memcpy(t.data_ptr(), bytes, info.end - info.begin);
  return t;
}

void SafetensorsFile::release_pages(const std::string& name) const {
  const TensorInfo* info = find(name);
  if (!info) throw FormatError("tensor '" + name + "' is not in " + path_.string());
  release_range(data_ + info->begin, info->end - info->begin);
}

at::Tensor SafetensorsFile::stored(const std::string& name) const {
  const TensorInfo* info = find(name);
  if (!info) throw FormatError("tensor '" + name + "' is not in " + path_.string());
  const bool f8 = info->dtype == StDType::F8_E4M3 || info->dtype == StDType::F8_E5M2;
  return view_or_copy(*info, f8 ? at::kByte : default_scalar_type(info->dtype), nullptr);
}

at::Tensor SafetensorsFile::tensor(const std::string& name,
                                   std::optional<at::ScalarType> dtype) const {
  const TensorInfo* info = find(name);
  if (!info) throw FormatError("tensor '" + name + "' is not in " + path_.string());
  const uint8_t* bytes = data_ + info->begin;
  at::Tensor t;
  bool view = false;
  if (info->dtype == StDType::F8_E4M3 || info->dtype == StDType::F8_E5M2) {
    t = decode_f8(bytes, *info);
  } else {
    t = view_or_copy(*info, default_scalar_type(info->dtype), &view);
  }
  if (dtype && *dtype != t.scalar_type()) {
    t = t.to(*dtype);
    // The converted copy is what stays: drop the source's pages from the resident set now
    // (whole pages inside the tensor only), so that converting a model never holds it twice.
    // The mapping is never written, so a later read faults the same bytes back in.
    if (view) release_range(bytes, info->end - info->begin);
  }
  return t;
}

std::map<std::string, at::Tensor> load_safetensors(const fs::path& path,
                                                   std::optional<at::ScalarType> dtype) {
  auto file = SafetensorsFile::open(path);
  std::map<std::string, at::Tensor> out;
  for (const auto& info : file->tensors()) out[info.name] = file->tensor(info.name, dtype);
  return out;
}

// ---- writing ---------------------------------------------------------------------------------

struct SafetensorsWriter::Impl {
  fs::path path, tmp_path;
  std::vector<Entry> entries;
  size_t next = 0;
  std::FILE* f = nullptr;
  bool finished = false;

  // Cleanup lives here (not in ~SafetensorsWriter) so that it also runs when the constructor
  // throws after creating the temporary file.
  ~Impl() {
    if (finished) return;
    if (f) std::fclose(f);
    std::error_code ec;
    fs::remove(tmp_path, ec);
  }
  void check_open(const std::string& what) const {
    if (finished || !f) {
      throw ConfigError("cannot " + what + " " + path.string() +
                        ": the writer is already finished");
    }
  }

  void check(bool ok, const std::string& what) {
    if (!ok) {
      std::string err = errno_text();
      throw IoError("cannot write " + path.string() + " (" + what + "): " + err);
    }
  }
};

SafetensorsWriter::SafetensorsWriter(const fs::path& path, std::vector<Entry> entries,
                                     const std::map<std::string, std::string>& metadata)
    : impl_(std::make_unique<Impl>()) {
  impl_->path = path;
  impl_->tmp_path = path;
  // Unique per process and per writer, so concurrent writers never share a temporary file.
  static std::atomic<uint64_t> counter{0};
  impl_->tmp_path += ".tmp-" + std::to_string(getpid()) + "-" + std::to_string(counter++);
  impl_->entries = std::move(entries);
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const auto& e : impl_->entries) {
    if (header.contains(e.name) || e.name == "__metadata__") {
      throw ConfigError("duplicate or reserved tensor name '" + e.name + "' for " + path.string());
    }
    uint64_t bytes = element_size(e.dtype);
    for (int64_t d : e.shape) {
      if (d < 0 || (d != 0 && bytes > std::numeric_limits<uint64_t>::max() / d)) {
        throw ConfigError("tensor '" + e.name + "' for " + path.string() +
                          " has a negative or overflowing shape");
      }
      bytes *= static_cast<uint64_t>(d);
    }
    header[e.name] = {{"dtype", to_string(e.dtype)},
                      {"shape", e.shape},
                      {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // data block starts 8-byte aligned
  impl_->f = std::fopen(impl_->tmp_path.c_str(), "wb");
  impl_->check(impl_->f != nullptr, "create");
  uint8_t len[8];
  uint64_t n = text.size();
  for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(n >> (8 * i));
  impl_->check(std::fwrite(len, 1, 8, impl_->f) == 8, "header length");
  impl_->check(std::fwrite(text.data(), 1, text.size(), impl_->f) == text.size(), "header");
}

SafetensorsWriter::~SafetensorsWriter() = default;

void SafetensorsWriter::write(const std::string& name, const at::Tensor& tensor) {
  impl_->check_open("write tensor '" + name + "' to");
  if (impl_->next >= impl_->entries.size()) {
    throw ConfigError("tensor '" + name + "' written beyond the declared entries of " +
                      impl_->path.string());
  }
  const Entry& e = impl_->entries[impl_->next];
  // fp8 data comes as its raw bits in a uint8 tensor (libtorch 1.13 has no float8 dtypes).
  const bool f8 = e.dtype == StDType::F8_E4M3 || e.dtype == StDType::F8_E5M2;
  const bool dtype_ok =
      f8 ? tensor.scalar_type() == at::kByte : st_dtype_of(tensor.scalar_type()) == e.dtype;
  if (e.name != name || !dtype_ok || tensor.sizes().vec() != e.shape) {
    throw ConfigError("tensor '" + name + "' does not match the next declared entry '" + e.name +
                      "' of " + impl_->path.string());
  }
  at::Tensor c = tensor.to(at::kCPU).contiguous();
  size_t bytes = static_cast<size_t>(c.numel()) * c.element_size();
  impl_->check(std::fwrite(c.data_ptr(), 1, bytes, impl_->f) == bytes, "tensor " + name);
  ++impl_->next;
}

void SafetensorsWriter::finish() {
  impl_->check_open("finish");
  if (impl_->next != impl_->entries.size()) {
    throw ConfigError("only " + std::to_string(impl_->next) + " of " +
                      std::to_string(impl_->entries.size()) + " tensors were written to " +
                      impl_->path.string());
  }
  impl_->check(std::fflush(impl_->f) == 0, "flush");
  impl_->check(fsync(fileno(impl_->f)) == 0 || errno == EINVAL, "sync");
  int rc = std::fclose(impl_->f);
  impl_->f = nullptr;
  impl_->check(rc == 0, "close");
  std::error_code ec;
  fs::rename(impl_->tmp_path, impl_->path, ec);
  if (ec)
    throw IoError("cannot move the finished file into place as " + impl_->path.string() + ": " +
                  ec.message());
  impl_->finished = true;
}

void save_safetensors(const fs::path& path,
                      const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  std::vector<SafetensorsWriter::Entry> entries;
  for (const auto& [name, t] : tensors) {
    entries.push_back({name, st_dtype_of(t.scalar_type()), t.sizes().vec()});
  }
  SafetensorsWriter writer(path, entries, metadata);
  for (const auto& [name, t] : tensors) writer.write(name, t);
  writer.finish();
}

}  // namespace i2v::io
