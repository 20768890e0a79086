"""One backend's measurement in a fresh process, so its peak RSS is its own.

python -m arc_edge.bench.backend_worker (--model DIR | --bundle DIR) --runs N --warmup K --out FILE
"""

from __future__ import annotations

import argparse
import json
import resource
from pathlib import Path

import torch


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", type=Path)
    p.add_argument("--bundle", type=Path)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--prompt", default="a low sine wave panned left, pulsing slowly")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args()

    from ..cli import _quiet_third_party
    from ..generate import GenerationRequest, generate

    _quiet_third_party()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.bundle:
        from ..export.bundle import BundleRuntime
        runtime = BundleRuntime(args.bundle, args.threads)
        cfg, tokenizer = runtime.cfg, runtime.tokenizer
    else:
        from ..checkpoint import load_model_dir
        runtime = load_model_dir(args.model)
        cfg, tokenizer = runtime.cfg, runtime.tokenizer
    rss_loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    req = GenerationRequest(args.prompt, cfg.max_seconds, 8, seed=0)
    runs = []
    for i in range(args.warmup + args.runs):
        res = generate(runtime, tokenizer, cfg, req)
        if i >= args.warmup:
            runs.append({"conditioners_ms": res.stage_ms["conditioners"], "dit_step_ms": res.step_ms,
                         "dit_total_ms": res.stage_ms["dit_total"], "decoder_ms": res.stage_ms["decoder"],
                         "total_ms": res.stage_ms["total"]})
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    args.out.write_text(json.dumps({"runs": runs, "peak_rss_mb": peak, "rss_after_load_mb": rss_loaded}))


if __name__ == "__main__":
    main()
