// The safetensors format (https://github.com/huggingface/safetensors): read by memory-mapping the
// file, with zero-copy tensors where no conversion is needed; written in one streaming pass.
//
// Layout: 8-byte little-endian header length N, N bytes of JSON header
// {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}},
// then the data block; offsets are relative to the data block's start.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "i2v/io/safetensors_header.h"

namespace i2v::io {

// The libtorch dtype a tensor of this type loads as by default (F8 types have no libtorch 1.13
// equivalent: they load as Float unless another dtype is requested).
at::ScalarType default_scalar_type(StDType t);
StDType st_dtype_of(at::ScalarType t);  // throws ConfigError for types the format lacks

// An open, memory-mapped safetensors file. Tensors it returns may alias the mapping and keep it
// alive (the mapping is private copy-on-write, so writing to them never touches the file).
class SafetensorsFile {
 public:
  // Opens and validates; throws IoError (cannot open/map) or FormatError (broken file), naming
  // the file and the problem.
  static std::shared_ptr<const SafetensorsFile> open(const std::filesystem::path& path);
  ~SafetensorsFile();

  const std::filesystem::path& path() const { return path_; }
  const std::vector<TensorInfo>& tensors() const { return header_.tensors; }
  const std::map<std::string, std::string>& metadata() const { return header_.metadata; }
  const TensorInfo* find(const std::string& name) const;  // nullptr if absent
  bool contains(const std::string& name) const { return find(name) != nullptr; }
  uint64_t file_size() const { return file_size_; }

  // The tensor `name` as a CPU tensor. Without `dtype`, or when it equals the stored type, the
  // result views the mapped bytes (no copy) when they are suitably aligned; otherwise the data is
  // converted/copied. Throws FormatError naming the tensor if absent.
  at::Tensor tensor(const std::string& name,
                    std::optional<at::ScalarType> dtype = std::nullopt) const;
  // The stored bytes as they are, zero-copy where aligned: the stored type, with F8_E4M3 /
  // F8_E5M2 data as its raw bits in a uint8 tensor (for i2v's 8-bit weights).
  at::Tensor stored(const std::string& name) const;
  // Drops the pages of `name`'s bytes from the resident set (whole pages inside it). A later
  // read faults the same bytes back in: for streaming through a file in bounded memory.
  void release_pages(const std::string& name) const;

 private:
  SafetensorsFile() = default;
  at::Tensor view_or_copy(const TensorInfo& info, at::ScalarType stored, bool* view) const;
  std::filesystem::path path_;
  Header header_;
  uint64_t file_size_ = 0;
  const uint8_t* data_ = nullptr;  // start of the data block inside the mapping
  void* map_base_ = nullptr;
  size_t map_size_ = 0;
  std::map<std::string, size_t> index_;
  std::weak_ptr<const SafetensorsFile> self_;
};

// Every tensor of a file, by name (views of the mapping where possible).
std::map<std::string, at::Tensor> load_safetensors(
    const std::filesystem::path& path, std::optional<at::ScalarType> dtype = std::nullopt);

// Writes `tensors` (in the given order) with optional metadata. Writes to a temporary file beside
// `path` and renames it into place, so a failure (disk full) never leaves a half-written file
// under the final name. Throws IoError.
void save_safetensors(const std::filesystem::path& path,
                      const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

// Streams a file whose tensor list is known up front but whose data is produced one tensor at a
// time (bounded memory: e.g. writing a multi-GB random model).
class SafetensorsWriter {
 public:
  struct Entry {
    std::string name;
    StDType dtype;
    std::vector<int64_t> shape;
  };
  SafetensorsWriter(const std::filesystem::path& path, std::vector<Entry> entries,
                    const std::map<std::string, std::string>& metadata = {});
  ~SafetensorsWriter();  // an unfinished writer removes its temporary file
  // Writes the next tensor; it must match the next entry's name, dtype and shape (F8 entries
  // take their raw bits as a uint8 tensor).
  void write(const std::string& name, const at::Tensor& tensor);
  // Checks every entry was written, flushes, renames into place.
  void finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace i2v::io
