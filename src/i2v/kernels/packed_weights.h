// Weights kept in the blocked layouts of i2v's oneDNN kernels (products, convolutions) while a
// PackedWeightScope is open, instead of being reordered from their stored layout at every call.
//
// Why: each UNet step reorders about 2.8 GB of bf16 weights (the real architecture) before its
// products; packed once at the first step, the later steps read the packed copies (measured on
// the AMX Xeon, 256x256x8, one UNet forward: 5.1 s -> 4.7 s). The kernels' results are the same
// bits: the same primitive runs on the same packed bytes, only made once.
//
// What is kept: only weights the caller marks persistent (a module's own parameter or a view of
// one; never a per-call dequantized or adapted copy). An entry is keyed by the weight's storage
// (held weakly), offset, sizes, strides and version counter, so a freed, replaced or modified
// weight is never matched; entries of freed weights are dropped, and a weight written in place
// replaces its stale copy.
//
// Memory: the packed copies cost about the weights' bytes. The set's owner (the pipeline, for
// memory::Residency::Packed) may free the source's pages as each weight is packed, so that the
// packed copy takes the place of the mapped one (`on_packed`).
#pragma once

#include <ATen/Tensor.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace i2v::kernels {

// A set of packed copies and derived weights that outlives the scopes using it: a Generator's
// UNet keeps its set between generations, so a reused Generator packs once (the first packing
// step costs ~2-3 s more than a plain one on the 2-vCPU Xeon VM; later ones ~0.7 s less each).
// `on_packed(source)` is called once for each persistent weight after its packed copy exists.
// Thread-safe; the copies are freed by clear() or with the set.
class PackedWeights {
 public:
  explicit PackedWeights(std::function<void(const at::Tensor&)> on_packed = {});
  ~PackedWeights();
  PackedWeights(const PackedWeights&) = delete;
  PackedWeights& operator=(const PackedWeights&) = delete;

  int64_t bytes() const;  // of the copies held now
  int64_t count() const;  // weights packed into this set since it was made or cleared
  void clear();

  struct Entries;  // kernels-internal

 private:
  friend class PackedWeightScope;
  std::unique_ptr<Entries> entries_;
};

// While a scope is open, persistent weights are packed into its set (kept) and read from it.
// Scopes nest; only the outermost one's set is used.
class PackedWeightScope {
 public:
  // A set of the scope's own, freed when it closes.
  explicit PackedWeightScope(std::function<void(const at::Tensor&)> on_packed = {});
  // The caller's set, kept after the scope closes (it must outlive the scope).
  explicit PackedWeightScope(PackedWeights& kept);
  ~PackedWeightScope();
  PackedWeightScope(const PackedWeightScope&) = delete;
  PackedWeightScope& operator=(const PackedWeightScope&) = delete;

 private:
  void open(PackedWeights& set);
  std::unique_ptr<PackedWeights> own_;
};

// Whether a scope is open, and the bytes of packed copies and derived weights its set holds now
// (0 when none is open).
bool packed_weights_open();
int64_t packed_weight_bytes();
// Weights packed into the open scope's set (the first step packs, later steps reuse).
int64_t packed_weight_count();

// A tensor made from a persistent weight (`what` names the derivation, e.g. the upsampler's phase
// kernels), built once per scope and kept like a packed copy; built per call (not kept) when no
// scope is open. The result is itself persistent while the scope is open.
at::Tensor derived_weight(const at::Tensor& source, const std::string& what,
                          const std::function<at::Tensor()>& build);

}  // namespace i2v::kernels
