// Python binding of the multi-tensor CUDA Adam in fused_adam.cu.
#include <torch/extension.h>

#include <vector>

void fused_adam(std::vector<at::Tensor> params, std::vector<at::Tensor> grads, std::vector<at::Tensor> exp_avgs,
                std::vector<at::Tensor> exp_avg_sqs, int64_t step, double lr, double beta1, double beta2, double eps,
                double weight_decay, bool adamw_mode, bool bias_correction);

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("fused_adam", &fused_adam, "Multi-tensor Adam/AdamW step on CUDA tensors of one dtype (state in fp32)");
}
