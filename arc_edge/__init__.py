"""arc-edge: fast text-to-audio (Stable Audio Open Small family, ARC post-trained) on Arm CPUs."""

__version__ = "0.1.0"
