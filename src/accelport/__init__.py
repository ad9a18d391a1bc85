"""accelport: port CUDA-only PyTorch code to accelerator-agnostic ``get_accelerator()`` calls."""

__version__ = "0.1.0"
