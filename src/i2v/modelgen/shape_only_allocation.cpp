#include "i2v/modelgen/shape_only_allocation.h"

#include <sys/mman.h>
#include <unistd.h>

#include <c10/core/Allocator.h>
#include <torch/version.h>

#include <cstring>
#include <mutex>

#include "i2v/error.h"

namespace i2v::modelgen {
namespace {

// One memfd grown to the largest request; each allocation is a fresh MAP_SHARED view of it.
struct AliasingBacking {
  std::mutex mu;
  int fd = -1;
  size_t size = 0;

  void* map(size_t n) {
    std::lock_guard<std::mutex> lock(mu);
    if (fd < 0) {
      fd = memfd_create("i2v-shape-only", MFD_CLOEXEC);
      if (fd < 0) throw Error(std::string("memfd_create failed: ") + std::strerror(errno));
    }
    size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    size_t bytes = ((n + page - 1) / page) * page;
    if (bytes == 0) bytes = page;
    if (bytes > size) {
      if (ftruncate(fd, static_cast<off_t>(bytes)) != 0) {
        throw Error(std::string("ftruncate of the shape-only backing failed: ") +
                    std::strerror(errno));
      }
      size = bytes;
    }
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) throw Error(std::string("mmap failed: ") + std::strerror(errno));
    return p;
  }
};

AliasingBacking& backing() {
  static AliasingBacking b;
  return b;
}

struct MappingContext {
  void* base;
  size_t bytes;
};

void unmap_context(void* ctx) {
  auto* m = static_cast<MappingContext*>(ctx);
  munmap(m->base, m->bytes);
  delete m;
}

class AliasingAllocator final : public c10::Allocator {
 public:
  c10::DataPtr allocate(size_t n) const override {
    size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    size_t bytes = std::max(page, ((n + page - 1) / page) * page);
    void* p = backing().map(n);
    return {p, new MappingContext{p, bytes}, &unmap_context, c10::Device(c10::DeviceType::CPU)};
  }
  c10::DeleterFnPtr raw_deleter() const override { return nullptr; }
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 3)
  void copy_data(void* dest, const void* src, std::size_t count) const override {
    std::memcpy(dest, src, count);
  }
#endif
};

AliasingAllocator g_aliasing_allocator;
constexpr uint8_t kPriority = 255;  // SetAllocator only replaces an allocator of lower priority

}  // namespace

ShapeOnlyAllocation::ShapeOnlyAllocation() : previous_(c10::GetAllocator(c10::DeviceType::CPU)) {
  c10::SetAllocator(c10::DeviceType::CPU, &g_aliasing_allocator, kPriority);
}

ShapeOnlyAllocation::~ShapeOnlyAllocation() {
  c10::SetAllocator(c10::DeviceType::CPU, previous_, kPriority);
}

size_t ShapeOnlyAllocation::backing_bytes() {
  return backing().size;
}

}  // namespace i2v::modelgen
