#include "i2v/memory/construction_arena.h"

#include <c10/core/Allocator.h>
#include <torch/version.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>

namespace i2v::memory {
namespace {

struct Block {
  void* data = nullptr;
  size_t size = 0;
  explicit Block(size_t n) : size(n) {
    data = std::aligned_alloc(64, (n + 63) / 64 * 64);
    if (!data) throw std::bad_alloc();
  }
  ~Block() { std::free(data); }
};

std::mutex g_mu;
std::shared_ptr<Block> g_block;  // the current (largest) block of the active arena

void drop_ref(void* ctx) {
  delete static_cast<std::shared_ptr<Block>*>(ctx);
}

class ArenaAllocator final : public c10::Allocator {
 public:
  c10::DataPtr allocate(size_t n) const override {
    std::lock_guard<std::mutex> lock(g_mu);
    if (!g_block || g_block->size < n) g_block = std::make_shared<Block>(std::max<size_t>(n, 64));
    auto* ref = new std::shared_ptr<Block>(g_block);
    return {g_block->data, ref, &drop_ref, c10::Device(c10::DeviceType::CPU)};
  }
  c10::DeleterFnPtr raw_deleter() const override { return nullptr; }
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 3)
  void copy_data(void* dest, const void* src, std::size_t count) const override {
    std::memmove(dest, src, count);
  }
#endif
};

ArenaAllocator g_arena;
constexpr uint8_t kPriority = 255;

}  // namespace

ConstructionArena::ConstructionArena() : previous_(c10::GetAllocator(c10::DeviceType::CPU)) {
  c10::SetAllocator(c10::DeviceType::CPU, &g_arena, kPriority);
}

ConstructionArena::~ConstructionArena() {
  c10::SetAllocator(c10::DeviceType::CPU, previous_, kPriority);
  std::lock_guard<std::mutex> lock(g_mu);
  g_block.reset();  // the next arena starts small; tensors still using a block keep it alive
}

}  // namespace i2v::memory
