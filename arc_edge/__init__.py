"""arc-edge: fast text-to-audio (Stable Audio Open Small family, ARC post-trained) on Arm CPUs."""

__version__ = "0.1.0"


def _quiet_dependencies() -> None:
    """torchao logs a warning per optional CUDA kernel it cannot load (there is no GPU build here) and
    torch's pytree one per deprecated registration, on every import through ExecuTorch: lines a user
    cannot act on. Errors still show."""
    import logging

    for name in ("torchao", "torch.utils._pytree"):
        logging.getLogger(name).setLevel(logging.ERROR)


_quiet_dependencies()
