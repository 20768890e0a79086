"""``arc-edge bench profile``: where each graph of an ExecuTorch bundle spends its time, per operator.

Every graph runs on its stored self-test inputs (real inputs of the export's reference generation)
in ExecuTorch's runtime with an ETDump event tracer; ExecuTorch's Inspector turns the dump into
per-event times, including every operator inside the XNNPACK delegate. Operators are grouped by
kind (XNNPACK names each instance "Kind #n") and ranked by their total time per call of the graph.
"""

from __future__ import annotations

import re
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from ..export.manifest import read_manifest
from ..export.selftest import stored_inputs

_INSTANCE = re.compile(r"\s*#\d+$")
_ETDUMP_ID = b"ED00"  # the flatbuffer file identifier after the size prefix and root offset
# runtime bookkeeping events, not operators
_NOT_OPERATORS = ("Method::execute", "Program::load_method", "Method::init", "DELEGATE_CALL", "OPERATOR_CALL")


@dataclass
class ProfileOptions:
    runs: int = 3
    threads: int | None = None
    top: int = 12


def _python_etdump(pte: Path, inputs: list, opts: ProfileOptions, work: Path) -> Path:
    """Run ``pte`` ``opts.runs`` times in ExecuTorch's Python runtime with an ETDump tracer."""
    from executorch.extension.pybindings.portable_lib import _load_for_executorch

    from ..export.backends import native_stderr_silenced, set_executorch_threads

    with native_stderr_silenced():  # the runtime's cpuinfo probe prints to fd 2 on first use
        set_executorch_threads(opts.threads)
        module = _load_for_executorch(str(pte), enable_etdump=True, debug_buffer_size=0)
    args = tuple(t.contiguous() for t in inputs)
    for _ in range(opts.runs):
        module.run_method("forward", args)
    dump = work / f"{pte.stem}.etdp"
    module.write_etdump_result_to_file(str(dump))
    return dump


def _events(dump: Path) -> list[dict]:
    from executorch.devtools import Inspector

    with dump.open("rb") as f:  # checked here: the Inspector hands a foreign file to flatc, which prints its usage
        header = f.read(12)
    if header[8:12] != _ETDUMP_ID:
        raise InputError(f"{dump} is not an ETDump (no {_ETDUMP_ID.decode()} identifier); rerun arc_runner --etdump")
    try:
        with warnings.catch_warnings():  # "no output buffer": tensor values were not asked for
            warnings.simplefilter("ignore", UserWarning)
            frame = Inspector(etdump_path=str(dump)).to_dataframe()
    except Exception as exc:  # the Inspector raises several types for a file that is not an ETDump
        raise InputError(f"{dump} is not a readable ETDump ({type(exc).__name__}); rerun arc_runner --etdump") from None
    events = []
    for row in frame.to_dict("records"):
        name = str(row["event_name"])
        if name in _NOT_OPERATORS or row["event_block_name"] != "Execute":
            continue
        events.append({"kind": _INSTANCE.sub("", name), "ms": float(row["avg (ms)"]),
                       "delegated": bool(row["is_delegated_op"])})
    return events


def _rank(events: list[dict], top: int) -> dict:
    kinds: dict[str, dict] = {}
    for e in events:
        k = kinds.setdefault(e["kind"], {"operator": e["kind"], "ms": 0.0, "count": 0, "delegated": e["delegated"]})
        k["ms"] += e["ms"]
        k["count"] += 1
    total = sum(k["ms"] for k in kinds.values())
    ranked = sorted(kinds.values(), key=lambda k: -k["ms"])
    for k in ranked:
        k["ms"], k["share"] = round(k["ms"], 3), round(k["ms"] / total, 4) if total else 0.0
    return {"operators_ms": round(total, 2), "top": ranked[:top], "kinds": len(ranked)}


def profile_bundle(bundle: Path, opts: ProfileOptions, etdump_prefix: str | None = None) -> dict:
    """Per-operator profile of every graph: measured here through the Python runtime, or read from the
    ETDumps ``arc_runner --etdump PREFIX`` wrote on a device (PREFIX.GRAPH.etdp)."""
    manifest = read_manifest(bundle)
    if manifest.backend != "executorch":
        raise InputError(f"{bundle} is an {manifest.backend} bundle; per-operator profiles need an executorch bundle")
    graphs = {}
    with tempfile.TemporaryDirectory(prefix="arc-edge-profile-") as tmp:
        inputs = None if etdump_prefix else stored_inputs(manifest)
        for name, graph in manifest.graphs.items():
            if etdump_prefix:
                dump = Path(f"{etdump_prefix}.{name}.etdp")
                if not dump.is_file():
                    raise InputError(f"{dump} does not exist; run arc_runner --etdump {etdump_prefix} first")
            else:
                dump = _python_etdump(manifest.path(graph.file), inputs[name], opts, Path(tmp))
            graphs[name] = {"file": graph.file, "quantization": manifest.raw["graphs"][name].get("quantization"),
                            **_rank(_events(dump), opts.top)}
    return {"bundle": str(bundle), "recipe": manifest.recipe, "source": "arc_runner ETDump" if etdump_prefix
            else "ExecuTorch Python runtime", "threads": opts.threads, "runs": opts.runs, "graphs": graphs}


def profile_table(result: dict) -> str:
    lines = []
    for name, g in result["graphs"].items():
        lines.append(f"{name} ({g['operators_ms']:.1f} ms of operators per call, {g['kinds']} kinds)")
        for op in g["top"]:
            where = "" if op["delegated"] else "  [outside XNNPACK]"
            lines.append(f"  {op['ms']:10.2f} ms {100 * op['share']:5.1f}%  x{op['count']:<4d} {op['operator']}{where}")
    return "\n".join(lines)
