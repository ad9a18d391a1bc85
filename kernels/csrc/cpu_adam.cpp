// Adam/AdamW for fp32 master weights on the CPU: one pass over p, g, m, v per step, tiles spread over
// PyTorch's own thread pool (at::parallel_for: OpenMP in PyTorch's builds, so no second OpenMP runtime
// spins against it) and OpenMP SIMD within a tile. Optionally writes a bf16 or fp16 copy of the updated weights in the
// same pass (the copy a mixed-precision model computes with).
#include <ATen/Parallel.h>
#include <torch/extension.h>

#include <cmath>
#include <cstdint>
#include <cstring>

#include "adam_math.h"

namespace {

constexpr int64_t kTile = 4096;

inline uint16_t to_bf16_bits(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  if ((bits & 0x7f800000u) == 0x7f800000u && (bits & 0x007fffffu) != 0) {
    return 0x7fc0;  // NaN, as c10::BFloat16 writes it
  }
  const uint32_t rounding = ((bits >> 16) & 1u) + 0x7fffu;  // round to nearest, ties to even
  return static_cast<uint16_t>((bits + rounding) >> 16);
}

template <typename Copy>
void adam_tiles(float* __restrict p, const float* __restrict g, float* __restrict m, float* __restrict v,
                Copy* __restrict copy, int64_t n, const AdamParams a) {
  const int64_t tiles = (n + kTile - 1) / kTile;
  at::parallel_for(0, tiles, 1, [&](int64_t first_tile, int64_t last_tile) {
  for (int64_t t = first_tile; t < last_tile; ++t) {
    const int64_t begin = t * kTile;
    const int64_t end = begin + kTile < n ? begin + kTile : n;
#pragma omp simd
    for (int64_t i = begin; i < end; ++i) {
      float mi = m[i];
      float vi = v[i];
      const float updated = adam_update(p[i], g[i], mi, vi, a);
      p[i] = updated;
      m[i] = mi;
      v[i] = vi;
    }
    if constexpr (std::is_same<Copy, uint16_t>::value) {
#pragma omp simd
      for (int64_t i = begin; i < end; ++i) copy[i] = to_bf16_bits(p[i]);
    } else if constexpr (std::is_same<Copy, at::Half>::value) {
      for (int64_t i = begin; i < end; ++i) copy[i] = static_cast<at::Half>(p[i]);
    }
  }
  });
}

void check(const torch::Tensor& t, const char* what, int64_t n) {
  TORCH_CHECK(t.device().is_cpu(), what, " must be a CPU tensor");
  TORCH_CHECK(t.scalar_type() == torch::kFloat32, what, " must be float32");
  TORCH_CHECK(t.is_contiguous(), what, " must be contiguous");
  TORCH_CHECK(t.numel() == n, what, " has ", t.numel(), " elements, expected ", n);
}

}  // namespace

void adam_step(torch::Tensor params, torch::Tensor grads, torch::Tensor exp_avg, torch::Tensor exp_avg_sq,
               int64_t step, double lr, double beta1, double beta2, double eps, double weight_decay,
               bool adamw_mode, bool bias_correction, c10::optional<torch::Tensor> param_copy) {
  const int64_t n = params.numel();
  check(params, "params", n);
  check(grads, "grads", n);
  check(exp_avg, "exp_avg", n);
  check(exp_avg_sq, "exp_avg_sq", n);
  TORCH_CHECK(step >= 1, "step counts from 1");
  const double bc1 = bias_correction ? 1.0 - std::pow(beta1, static_cast<double>(step)) : 1.0;
  const double bc2 = bias_correction ? 1.0 - std::pow(beta2, static_cast<double>(step)) : 1.0;
  AdamParams a{static_cast<float>(lr), static_cast<float>(beta1), static_cast<float>(beta2),
               static_cast<float>(eps), static_cast<float>(weight_decay), static_cast<float>(lr / bc1),
               static_cast<float>(std::sqrt(bc2)), adamw_mode};
  float* p = params.data_ptr<float>();
  const float* g = grads.data_ptr<float>();
  float* m = exp_avg.data_ptr<float>();
  float* v = exp_avg_sq.data_ptr<float>();
  if (!param_copy.has_value()) {
    adam_tiles<float>(p, g, m, v, nullptr, n, a);
    return;
  }
  torch::Tensor copy = *param_copy;
  TORCH_CHECK(copy.is_contiguous() && copy.numel() == n && copy.device().is_cpu(),
              "param_copy must be a contiguous CPU tensor the size of params");
  if (copy.scalar_type() == torch::kBFloat16) {
    adam_tiles<uint16_t>(p, g, m, v, reinterpret_cast<uint16_t*>(copy.data_ptr<at::BFloat16>()), n, a);
  } else if (copy.scalar_type() == torch::kFloat16) {
    adam_tiles<at::Half>(p, g, m, v, copy.data_ptr<at::Half>(), n, a);
  } else {
    TORCH_CHECK(false, "param_copy must be bfloat16 or float16");
  }
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("adam_step", &adam_step, "Adam/AdamW step on fp32 CPU tensors, optionally writing a bf16/fp16 copy",
        py::arg("params"), py::arg("grads"), py::arg("exp_avg"), py::arg("exp_avg_sq"), py::arg("step"),
        py::arg("lr"), py::arg("beta1"), py::arg("beta2"), py::arg("eps"), py::arg("weight_decay"),
        py::arg("adamw_mode"), py::arg("bias_correction"), py::arg("param_copy") = py::none());
}
