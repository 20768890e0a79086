"""Training: VAE, rectified-flow and ARC stages, data batches, losses, DDP, recipes."""
