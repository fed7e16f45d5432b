"""depth_net: FastFoundationStereo stereo depth - network, data, training, evaluation, deploy."""

__all__ = ["__version__"]
__version__ = "0.1.0"
