// Multi-tensor Adam/AdamW on CUDA: one launch updates many tensors. Each block handles one chunk of
// one tensor; the tensors' addresses and sizes travel in a struct passed by value (kernel argument
// space), so a launch needs no host-to-device copy of metadata.
#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <c10/cuda/CUDAStream.h>
#include <c10/cuda/CUDAGuard.h>

#include <cmath>
#include <vector>

#include "adam_math.h"

namespace {

constexpr int kMaxTensors = 36;
constexpr int kMaxBlocks = 320;
constexpr int64_t kChunk = 65536;
constexpr int kThreads = 512;

struct TensorListMeta {
  void* param[kMaxTensors];
  void* grad[kMaxTensors];
  float* exp_avg[kMaxTensors];
  float* exp_avg_sq[kMaxTensors];
  int64_t size[kMaxTensors];
  unsigned char block_tensor[kMaxBlocks];
  int block_chunk[kMaxBlocks];
};

template <typename T>
__global__ void adam_chunks(TensorListMeta meta, AdamParams a) {
  const int t = meta.block_tensor[blockIdx.x];
  const int64_t begin = static_cast<int64_t>(meta.block_chunk[blockIdx.x]) * kChunk;
  const int64_t n = meta.size[t];
  const int64_t end = begin + kChunk < n ? begin + kChunk : n;
  T* p = static_cast<T*>(meta.param[t]);
  const T* g = static_cast<const T*>(meta.grad[t]);
  float* m = meta.exp_avg[t];
  float* v = meta.exp_avg_sq[t];
  for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) {
    float mi = m[i];
    float vi = v[i];
    const float updated = adam_update(static_cast<float>(p[i]), static_cast<float>(g[i]), mi, vi, a);
    p[i] = static_cast<T>(updated);
    m[i] = mi;
    v[i] = vi;
  }
}

template <typename T>
void launch_all(const std::vector<at::Tensor>& params, const std::vector<at::Tensor>& grads,
                const std::vector<at::Tensor>& exp_avgs, const std::vector<at::Tensor>& exp_avg_sqs,
                const AdamParams& a) {
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  TensorListMeta meta;
  int tensors = 0;  // table entries in use
  int blocks = 0;   // blocks queued for the next launch
  auto flush = [&]() {
    if (blocks > 0) {
      adam_chunks<T><<<blocks, kThreads, 0, stream>>>(meta, a);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    }
    blocks = 0;
  };
  for (size_t k = 0; k < params.size(); ++k) {
    const int64_t n = params[k].numel();
    if (n == 0) continue;
    if (tensors == kMaxTensors) {
      flush();
      tensors = 0;
    }
    int slot = tensors++;
    meta.param[slot] = params[k].data_ptr();
    meta.grad[slot] = grads[k].data_ptr();
    meta.exp_avg[slot] = exp_avgs[k].data_ptr<float>();
    meta.exp_avg_sq[slot] = exp_avg_sqs[k].data_ptr<float>();
    meta.size[slot] = n;
    const int64_t chunks = (n + kChunk - 1) / kChunk;
    for (int64_t c = 0; c < chunks; ++c) {
      meta.block_tensor[blocks] = static_cast<unsigned char>(slot);
      meta.block_chunk[blocks] = static_cast<int>(c);
      if (++blocks == kMaxBlocks) {
        flush();
        // Every tensor before this one is fully queued; this one, if chunks remain, moves to entry 0.
        if (c + 1 < chunks) {
          meta.param[0] = meta.param[slot];
          meta.grad[0] = meta.grad[slot];
          meta.exp_avg[0] = meta.exp_avg[slot];
          meta.exp_avg_sq[0] = meta.exp_avg_sq[slot];
          meta.size[0] = meta.size[slot];
          slot = 0;
          tensors = 1;
        } else {
          tensors = 0;
        }
      }
    }
  }
  flush();
}

}  // namespace

void fused_adam(std::vector<at::Tensor> params, std::vector<at::Tensor> grads, std::vector<at::Tensor> exp_avgs,
                std::vector<at::Tensor> exp_avg_sqs, int64_t step, double lr, double beta1, double beta2, double eps,
                double weight_decay, bool adamw_mode, bool bias_correction) {
  TORCH_CHECK(params.size() == grads.size() && params.size() == exp_avgs.size() && params.size() == exp_avg_sqs.size(),
              "fused_adam: the four tensor lists must have the same length");
  if (params.empty()) return;
  for (size_t k = 0; k < params.size(); ++k) {
    TORCH_CHECK(params[k].is_cuda() && params[k].is_contiguous(), "fused_adam: params must be contiguous CUDA tensors");
    TORCH_CHECK(grads[k].scalar_type() == params[k].scalar_type(), "fused_adam: a grad's dtype differs from its param's");
    TORCH_CHECK(exp_avgs[k].scalar_type() == at::kFloat && exp_avg_sqs[k].scalar_type() == at::kFloat,
                "fused_adam: optimizer state must be float32");
    TORCH_CHECK(params[k].scalar_type() == params[0].scalar_type(), "fused_adam: group tensors by dtype");
  }
  const c10::cuda::CUDAGuard guard(params[0].device());
  const double bc1 = bias_correction ? 1.0 - std::pow(beta1, static_cast<double>(step)) : 1.0;
  const double bc2 = bias_correction ? 1.0 - std::pow(beta2, static_cast<double>(step)) : 1.0;
  const AdamParams a{static_cast<float>(lr), static_cast<float>(beta1), static_cast<float>(beta2),
                     static_cast<float>(eps), static_cast<float>(weight_decay), static_cast<float>(lr / bc1),
                     static_cast<float>(std::sqrt(bc2)), adamw_mode};
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, params[0].scalar_type(), "fused_adam", [&] {
    launch_all<scalar_t>(params, grads, exp_avgs, exp_avg_sqs, a);
  });
}
