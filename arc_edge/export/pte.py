"""What an ExecuTorch program file runs: its delegates and the operators left outside them."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class PteSummary:
    delegates: Counter  # backend id -> delegate calls
    operators: Counter  # operator name -> kernel calls outside any delegate

    @property
    def delegate_calls(self) -> int:
        return sum(self.delegates.values())


def summarize_pte(path: Path) -> PteSummary:
    from executorch.exir._serialize._program import deserialize_pte_binary

    program = deserialize_pte_binary(Path(path).read_bytes()).program
    plan = program.execution_plan[0]
    delegates, operators = Counter(), Counter()
    for instruction in plan.chains[0].instructions:
        args = instruction.instr_args
        kind = type(args).__name__
        if kind == "DelegateCall":
            delegates[plan.delegates[args.delegate_index].id] += 1
        elif kind == "KernelCall":
            operators[plan.operators[args.op_index].name] += 1
    return PteSummary(delegates, operators)
