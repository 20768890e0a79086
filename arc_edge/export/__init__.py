"""Export of the three graphs to ExecuTorch (XNNPACK) and ONNX bundles, behind a parity gate."""
