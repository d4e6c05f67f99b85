// Where the time of a forward pass goes: while an OpCensus is alive, every operator that i2v's
// own code calls on this thread (the outermost libtorch / i2v kernel calls, not their internals)
// is timed, sorted into a layer kind and its FLOPs counted from the shapes it ran on. The bench
// commands run one extra, untimed forward under a census to report TFLOP/s and time shares.
#pragma once

#include <ATen/record_function.h>

#include <map>
#include <string>

#include <nlohmann/json.hpp>

namespace i2v::cli {

struct CensusResult {
  double flops = 0;                               // multiply-adds x 2 of conv, linear, attention
  double wall_s = 0;                              // from start to result()
  std::map<std::string, double> seconds_by_kind;  // conv, linear, attention, norm, ...
  std::map<std::string, double> seconds_by_op;    // outermost operator names
  std::map<std::string, double> flops_by_kind;
  struct ShapeStat {
    double seconds = 0, flops = 0;
    int64_t calls = 0;
  };
  // "op [shape of arg 0] [shape of arg 1]" of the matrix kinds (conv, linear, attention): which
  // shapes run far from the machine's roof.
  std::map<std::string, ShapeStat> by_shape;

  // {"flops":..., "share": {kind: fraction of wall time}, "top_ops": {...}, "top_shapes": [...]}.
  nlohmann::json to_json(int top_ops = 20) const;
};

class OpCensus {
 public:
  OpCensus();   // starts counting on the calling thread
  ~OpCensus();  // stops
  OpCensus(const OpCensus&) = delete;
  OpCensus& operator=(const OpCensus&) = delete;
  CensusResult result() const;

 private:
  at::CallbackHandle handle_;
};

// Layer kind of an operator name (e.g. "aten::conv2d" -> "conv"); exposed for tests.
std::string layer_kind_of(const std::string& op_name);

}  // namespace i2v::cli
