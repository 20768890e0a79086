"""arc-edge's own CLAP-style audio-text embedding (model, storage, training)."""
