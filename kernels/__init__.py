"""Native kernels and their op builders. Importing this package builds nothing: builders build on
their first ``load()``, and the optimizers load their builder when constructed."""

from accelport.kernels.builder import BuildError, OpBuilder

__all__ = ["BuildError", "OpBuilder", "CPUAdam", "FusedAdam", "CPUAdamBuilder", "FusedAdamBuilder"]


def __getattr__(name: str):
    if name in ("CPUAdam", "FusedAdam"):
        from accelport.kernels import optimizers

        return getattr(optimizers, name)
    if name == "CPUAdamBuilder":
        from accelport.kernels.cpu_adam import CPUAdamBuilder

        return CPUAdamBuilder
    if name == "FusedAdamBuilder":
        from accelport.kernels.fused_adam import FusedAdamBuilder

        return FusedAdamBuilder
    raise AttributeError(name)
