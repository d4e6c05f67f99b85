// Lets a model be constructed only to learn its parameter names and shapes, without paying for its
// memory: while a ShapeOnlyAllocation is alive, every CPU tensor allocation maps the same shared
// physical pages, so building a 1.4-billion-parameter UNet costs about the size of its largest
// tensor. The tensors' contents are garbage (they all alias); use them for shapes only.
#pragma once

#include <cstddef>

namespace c10 {
struct Allocator;
}

namespace i2v::modelgen {

class ShapeOnlyAllocation {
 public:
  ShapeOnlyAllocation();   // installs the aliasing allocator for CPU tensors (process-wide)
  ~ShapeOnlyAllocation();  // restores the previous allocator
  ShapeOnlyAllocation(const ShapeOnlyAllocation&) = delete;
  ShapeOnlyAllocation& operator=(const ShapeOnlyAllocation&) = delete;

  // Bytes of physical backing in use (the largest allocation seen, page-rounded).
  static size_t backing_bytes();

 private:
  c10::Allocator* previous_;
};

}  // namespace i2v::modelgen
