#include "i2v/nn/checkpoint.h"

#include <torch/autograd.h>
#include <torch/custom_class.h>

#include "i2v/error.h"

namespace i2v::nn {
namespace {

thread_local std::vector<at::Tensor>* g_params = nullptr;
thread_local int64_t g_min_positions = 0;

struct LayerHolder : torch::CustomClassHolder {
  LayerFn fn;
  size_t inputs = 0;
  std::vector<bool> defined;  // which inputs were given (undefined ones are not saved)
};

class CheckpointFunction : public torch::autograd::Function<CheckpointFunction> {
 public:
  // `all` = the layer's defined inputs, then the trained parameters.
  static torch::autograd::variable_list forward(torch::autograd::AutogradContext* ctx,
                                                c10::intrusive_ptr<LayerHolder> layer,
                                                at::TensorList all_inputs) {
    const torch::autograd::variable_list all = all_inputs.vec();
    ctx->saved_data["layer"] = c10::IValue::make_capsule(layer);
    ctx->save_for_backward(all);
    at::NoGradGuard no_grad;
    return {layer->fn(unpack(*layer, all, /*detach=*/false))};
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_out) {
    auto layer =
        c10::static_intrusive_pointer_cast<LayerHolder>(ctx->saved_data["layer"].toCapsule());
    const torch::autograd::variable_list all = ctx->get_saved_variables();
    std::vector<at::Tensor> inputs = unpack(*layer, all, /*detach=*/true);
    // The layer again, this time recording the graph from its inputs and the parameters.
    at::Tensor out;
    {
      at::AutoGradMode grad(true);
      out = layer->fn(inputs);
    }
    std::vector<at::Tensor> wrt;
    std::vector<size_t> slot;  // index into `all` of each tensor in wrt
    size_t k = 0;
    for (size_t i = 0; i < layer->inputs; ++i) {
      if (!layer->defined[i]) continue;
      if (inputs[i].requires_grad()) {
        wrt.push_back(inputs[i]);
        slot.push_back(k);
      }
      ++k;
    }
    for (size_t i = k; i < all.size(); ++i) {
      wrt.push_back(all[i]);
      slot.push_back(i);
    }
    torch::autograd::variable_list result(all.size() + 1);  // + the (non-tensor) layer argument
    if (!out.requires_grad() || wrt.empty()) return result;
    const auto grads = torch::autograd::grad({out}, wrt, {grad_out[0]}, /*retain_graph=*/false,
                                             /*create_graph=*/false, /*allow_unused=*/true);
    for (size_t j = 0; j < wrt.size(); ++j) result[slot[j] + 1] = grads[j];
    return result;
  }

 private:
  // The layer's inputs (undefined where none was given), detached for the recomputation.
  static std::vector<at::Tensor> unpack(const LayerHolder& layer,
                                        const torch::autograd::variable_list& all, bool detach) {
    std::vector<at::Tensor> inputs(layer.inputs);
    size_t k = 0;
    for (size_t i = 0; i < layer.inputs; ++i) {
      if (!layer.defined[i]) continue;
      const at::Tensor& t = all[k++];
      inputs[i] = detach ? t.detach().requires_grad_(t.requires_grad()) : t;
    }
    return inputs;
  }
};

}  // namespace

ScopedCheckpointing::ScopedCheckpointing(std::vector<at::Tensor> params, int64_t min_positions) {
  if (g_params) throw ConfigError("gradient checkpointing scopes do not nest");
  g_params = new std::vector<at::Tensor>(std::move(params));
  g_min_positions = min_positions;
}

ScopedCheckpointing::~ScopedCheckpointing() {
  delete g_params;
  g_params = nullptr;
}

bool checkpointing_active() {
  return g_params && at::GradMode::is_enabled();
}

bool checkpointing_active_for(const at::Tensor& x) {
  return checkpointing_active() && x.dim() >= 2 && x.size(-1) * x.size(-2) >= g_min_positions;
}

at::Tensor checkpointed(const LayerFn& fn, const std::vector<at::Tensor>& inputs) {
  if (!checkpointing_active()) return fn(inputs);
  auto layer = c10::make_intrusive<LayerHolder>();
  layer->fn = fn;
  layer->inputs = inputs.size();
  torch::autograd::variable_list all;
  for (const at::Tensor& t : inputs) {
    layer->defined.push_back(t.defined());
    if (t.defined()) all.push_back(t);
  }
  for (const at::Tensor& p : *g_params) all.push_back(p);
  // As a TensorList: autograd tracks each tensor of a list argument (not of a std::vector).
  return CheckpointFunction::apply(layer, at::TensorList(all))[0];
}

}  // namespace i2v::nn
