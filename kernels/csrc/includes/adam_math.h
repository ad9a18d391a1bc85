// One Adam/AdamW update of a single element, written the way torch.optim.Adam computes it
// (lerp for the first moment, bias corrections applied to the step and to sqrt(v)), so that the
// kernels agree with PyTorch to float rounding.
#pragma once

#if defined(__CUDACC__)
#define ACCELPORT_HD __host__ __device__ __forceinline__
#else
#define ACCELPORT_HD inline
#endif

struct AdamParams {
  float lr;
  float beta1;
  float beta2;
  float eps;
  float weight_decay;
  float step_size;        // lr / bias_correction1
  float bias_correction2_sqrt;
  bool adamw;
};

ACCELPORT_HD float adam_update(float p, float g, float& m, float& v, const AdamParams& a) {
  if (a.adamw) {
    p = p * (1.0f - a.lr * a.weight_decay);
  } else {
    g = g + a.weight_decay * p;
  }
  m = m + (1.0f - a.beta1) * (g - m);
  v = v * a.beta2 + (1.0f - a.beta2) * g * g;
  const float denom = sqrtf(v) / a.bias_correction2_sqrt + a.eps;
  return p - a.step_size * (m / denom);
}
