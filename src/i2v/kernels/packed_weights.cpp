#include "i2v/kernels/packed_weights.h"

#include <ATen/ATen.h>
#include <c10/core/StorageImpl.h>
#include <c10/util/intrusive_ptr.h>

#include <sys/mman.h>

#include <atomic>
#include <mutex>
#include <new>
#include <unordered_map>
#include <utility>
#include <vector>

#ifdef I2V_WITH_ONEDNN
#include "i2v/kernels/onednn_engine.h"
#endif

namespace i2v::kernels {
namespace {

// Which weight, exactly: its storage (held weakly, so the address is never reused for another
// storage while the entry exists), where in it, its shape and strides, and its version counter
// (bumped by in-place writes).
struct WeightId {
  c10::weak_intrusive_ptr<c10::StorageImpl> storage{c10::intrusive_ptr<c10::StorageImpl>()};
  int64_t offset = 0;
  std::vector<int64_t> sizes, strides;
  at::ScalarType dtype = at::kFloat;
  int64_t version = 0;

  static WeightId of(const at::Tensor& t) {
    WeightId id;
    id.storage = t.storage().getWeakStorageImpl();
    id.offset = t.storage_offset();
    id.sizes.assign(t.sizes().begin(), t.sizes().end());
    id.strides.assign(t.strides().begin(), t.strides().end());
    id.dtype = t.scalar_type();
    id.version = static_cast<int64_t>(t._version());
    return id;
  }
  bool expired() const { return storage.expired(); }
  // The same tensor of the same storage, maybe written since (then the versions differ).
  bool same_place(const WeightId& o) const {
    return offset == o.offset && sizes == o.sizes && strides == o.strides && dtype == o.dtype;
  }
};

struct PackedEntry {
  WeightId id;
#ifdef I2V_WITH_ONEDNN
  dnnl::memory::desc layout;
#endif
  at::Tensor tensor;  // the packed bytes
};

struct DerivedEntry {
  WeightId id;
  std::string what;
  at::Tensor tensor;  // what build() made
};

int64_t bytes_of(const at::Tensor& t) {
  return static_cast<int64_t>(t.numel()) * static_cast<int64_t>(t.element_size());
}

// The kept tensor of the entry in `list` for weight `id` that `matches`, or null. An entry of
// the same weight written in place since (another version) is stale: it leaves `list` and
// `bytes`, so that the caller's new one takes its place instead of adding to it.
template <class Entry, class Match>
const at::Tensor* current_entry(std::vector<Entry>& list, const WeightId& id, int64_t& bytes,
                                const Match& matches) {
  for (auto e = list.begin(); e != list.end(); ++e) {
    if (!matches(*e) || !e->id.same_place(id)) continue;
    if (e->id.version == id.version) return &e->tensor;
    bytes -= bytes_of(e->tensor);
    list.erase(e);
    return nullptr;
  }
  return nullptr;
}

}  // namespace

// One set's entries; every access under the store's mutex.
struct PackedWeights::Entries {
  std::function<void(const at::Tensor&)> on_packed;
  // Keyed by the storage's address (stable while an entry holds it weakly).
  std::unordered_map<const void*, std::vector<PackedEntry>> packed;
  std::unordered_map<const void*, std::vector<DerivedEntry>> derived;
  int64_t bytes = 0, count = 0, inserts = 0;

  // Entries of freed weights go (checked every 64 insertions: their copies are the only waste).
  void sweep_if_due() {
    if (++inserts % 64 != 0) return;
    auto prune = [this](auto& map) {
      for (auto it = map.begin(); it != map.end();) {
        auto& v = it->second;
        for (auto e = v.begin(); e != v.end();) {
          if (!e->id.expired()) {
            ++e;
            continue;
          }
          bytes -= bytes_of(e->tensor);
          e = v.erase(e);
        }
        it = v.empty() ? map.erase(it) : std::next(it);
      }
    };
    prune(packed);
    prune(derived);
  }

  void clear() {
    packed.clear();
    derived.clear();
    bytes = count = inserts = 0;
  }
};

namespace {

// The process-wide state: which set the open scopes use.
struct Store {
  std::mutex mu;
  std::atomic<int> depth{0};  // read without the lock by packed_weights_open (every product)
  PackedWeights::Entries* active = nullptr;
};

Store& store() {
  static Store s;
  return s;
}

const void* storage_key(const at::Tensor& t) {
  return static_cast<const void*>(t.storage().unsafeGetStorageImpl());
}

// Memory for one packed copy, at least 64-byte aligned as the kernels' vector loads want. Copies
// of 1 MiB and more get their own anonymous mapping of ordinary pages rather than going through
// the CPU allocator, whose large blocks are 2 MiB-aligned and marked for transparent huge pages
// (memory/block_reuse.h): for 2.7 GB of copies made once, huge-page compaction and zeroing made
// the packing step ~4.5 s slower than a plain one on the 2-vCPU Xeon VM; with ordinary pages,
// ~1.5 s.
at::Tensor packed_buffer(int64_t bytes) {
  constexpr int64_t kOwnMapping = int64_t{1} << 20;
  if (bytes < kOwnMapping) return at::empty({bytes}, at::kByte);
  const size_t size = static_cast<size_t>(bytes);
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  return at::from_blob(
      p, {bytes}, [size](void* q) { munmap(q, size); }, at::TensorOptions().dtype(at::kByte));
}

}  // namespace

PackedWeights::PackedWeights(std::function<void(const at::Tensor&)> on_packed)
    : entries_(std::make_unique<Entries>()) {
  entries_->on_packed = std::move(on_packed);
}

PackedWeights::~PackedWeights() {
  Store& s = store();
  std::lock_guard<std::mutex> lock(s.mu);
  if (s.active == entries_.get()) s.active = nullptr;  // products fall back to per-call copies
}

int64_t PackedWeights::bytes() const {
  std::lock_guard<std::mutex> lock(store().mu);
  return entries_->bytes;
}

int64_t PackedWeights::count() const {
  std::lock_guard<std::mutex> lock(store().mu);
  return entries_->count;
}

void PackedWeights::clear() {
  std::lock_guard<std::mutex> lock(store().mu);
  entries_->clear();
}

PackedWeightScope::PackedWeightScope(std::function<void(const at::Tensor&)> on_packed)
    : own_(std::make_unique<PackedWeights>(std::move(on_packed))) {
  open(*own_);
}

PackedWeightScope::PackedWeightScope(PackedWeights& kept) {
  open(kept);
}

void PackedWeightScope::open(PackedWeights& set) {
  Store& s = store();
  std::lock_guard<std::mutex> lock(s.mu);
  if (s.depth++ == 0) s.active = set.entries_.get();
}

PackedWeightScope::~PackedWeightScope() {
  Store& s = store();
  {
    std::lock_guard<std::mutex> lock(s.mu);
    if (--s.depth == 0) s.active = nullptr;
  }
  own_.reset();  // after the lock: the set's destructor takes it
}

bool packed_weights_open() {
  return store().depth.load() > 0;
}

int64_t packed_weight_bytes() {
  Store& s = store();
  std::lock_guard<std::mutex> lock(s.mu);
  return s.active ? s.active->bytes : 0;
}

int64_t packed_weight_count() {
  Store& s = store();
  std::lock_guard<std::mutex> lock(s.mu);
  return s.active ? s.active->count : 0;
}

at::Tensor derived_weight(const at::Tensor& source, const std::string& what,
                          const std::function<at::Tensor()>& build) {
  Store& s = store();
  std::lock_guard<std::mutex> lock(s.mu);
  if (!s.active || !source.defined() || !source.has_storage()) return build();
  PackedWeights::Entries& set = *s.active;
  const WeightId id = WeightId::of(source);
  std::vector<DerivedEntry>& list = set.derived[storage_key(source)];
  if (const at::Tensor* kept =
          current_entry(list, id, set.bytes, [&](const DerivedEntry& e) { return e.what == what; }))
    return *kept;
  at::Tensor value = build();
  set.bytes += bytes_of(value);
  list.push_back({id, what, value});
  set.sweep_if_due();
  return value;
}

#ifdef I2V_WITH_ONEDNN
namespace {

void reorder_into(const at::Tensor& w, const dnnl::memory::desc& given,
                  const dnnl::memory::desc& layout, dnnl::reorder& pack, dnnl::stream& stream,
                  void* destination) {
  auto& engine = onednn_cpu_engine();
  dnnl::memory from(given, engine, const_cast<void*>(w.data_ptr()));
  dnnl::memory to(layout, engine, destination);
  pack.execute(stream, from, to);
}

}  // namespace

at::Tensor packed_weight(const at::Tensor& w, bool keep, const dnnl::memory::desc& given,
                         const dnnl::memory::desc& layout, dnnl::reorder& pack,
                         dnnl::stream& stream, const std::function<at::Tensor()>& source) {
  const int64_t bytes = static_cast<int64_t>(layout.get_size());
  auto fill = [&](void* destination) {
    if (!source) return reorder_into(w, given, layout, pack, stream, destination);
    const at::Tensor from = source();  // freed again once reordered
    reorder_into(from, given, layout, pack, stream, destination);
  };
  if (keep && w.has_storage()) {
    Store& s = store();
    std::lock_guard<std::mutex> lock(s.mu);
    if (s.active) {
      PackedWeights::Entries& set = *s.active;
      const WeightId id = WeightId::of(w);
      std::vector<PackedEntry>& list = set.packed[storage_key(w)];
      if (const at::Tensor* kept = current_entry(
              list, id, set.bytes, [&](const PackedEntry& e) { return e.layout == layout; }))
        return *kept;
      at::Tensor packed = packed_buffer(bytes);
      fill(packed.data_ptr());
      set.bytes += bytes_of(packed);
      ++set.count;
      list.push_back({id, layout, packed});
      if (set.on_packed) set.on_packed(w);
      set.sweep_if_due();
      return packed;
    }
  }
  // For this call only, in an ordinary tensor: its block comes back through the allocator's
  // reuse cache on the next call of the same shape.
  at::Tensor packed = at::empty({bytes}, at::kByte);
  fill(packed.data_ptr());
  return packed;
}
#endif

}  // namespace i2v::kernels
