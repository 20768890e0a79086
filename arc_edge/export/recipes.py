"""Export recipes (the top-level export/recipes/*.toml, shipped in the package as
``arc_edge.export_recipes``): per-graph quantisation and parity thresholds, as data.

A recipe is validated completely when it loads: an unknown key, a graph the exporter does not
know, a quantisation mode or module type the backend cannot do, or a threshold that is not a
finite number is a one-line error before anything is exported (a typo must never switch the
parity gate off).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from ..errors import ConfigError
from ..schema import Fields, read_text, str_item

RECIPE_PACKAGE = "arc_edge.export_recipes"
GRAPHS = ("conditioners", "dit", "decoder", "encoder")
# fp32; fp16 (the whole graph in half precision); int8_dynamic (int8 weights per channel, activations
# quantised at run time); int8_dynamic_int4_weight (int4 weights in groups, int8 dynamic activations: "8da4w")
QUANT_MODES = ("fp32", "fp16", "int8_dynamic", "int8_dynamic_int4_weight")
QUANTIZABLE_MODULES = ("Linear", "Conv1d", "ConvTranspose1d")
INT4_MODULES = ("Linear",)
DEFAULT_GROUP_SIZE = 32
# optimum-cli's vocabulary for the same recipes (--qlinear 8da8w = 8-bit dynamic activations, 8-bit weights)
QLINEAR_NAMES = {"8da8w": "int8", "8da4w": "8da4w"}
_GRAPH_KEYS = ("quant", "modules", "group_size", "min_snr_db")


@dataclass(frozen=True)
class GraphRecipe:
    quant: str
    min_snr_db: float
    modules: tuple[str, ...] = field(default_factory=tuple)
    group_size: int = DEFAULT_GROUP_SIZE  # int4 weights: input channels per scale

    def to_json(self) -> dict:
        out = {"quant": self.quant, "modules": list(self.modules), "min_snr_db": self.min_snr_db}
        if self.quant == "int8_dynamic_int4_weight":
            out["group_size"] = self.group_size
        return out


@dataclass(frozen=True)
class ExportRecipe:
    name: str
    description: str
    graphs: dict[str, GraphRecipe]
    end_to_end_min_snr_db: float
    source: str

    def graph(self, name: str) -> GraphRecipe:
        if name not in self.graphs:
            raise ConfigError(f"recipe {self.source} has no [graphs.{name}] table; add one to export that graph")
        return self.graphs[name]


def _builtin_dir():
    return resources.files(RECIPE_PACKAGE)


def available_recipes() -> list[str]:
    return sorted(p.name[:-5] for p in _builtin_dir().iterdir() if p.name.endswith(".toml"))


def _graph_recipe(g: Fields) -> GraphRecipe:
    unknown = sorted(set(g.keys()) - set(_GRAPH_KEYS))
    if unknown:
        raise ConfigError(f"{g.where}: unknown key(s) {', '.join(unknown)} in [{g.path}]; known: {', '.join(_GRAPH_KEYS)}")
    quant = g.string("quant", choices=QUANT_MODES)
    modules = tuple(g.items("modules", str_item(g.where), []))
    allowed = INT4_MODULES if quant == "int8_dynamic_int4_weight" else QUANTIZABLE_MODULES
    bad = [m for m in modules if m not in allowed]
    if bad:
        raise ConfigError(f"{g.where}: [{g.path}] modules {bad} cannot be quantised as {quant}; "
                          f"use {', '.join(allowed)}")
    if quant.startswith("int8") and not modules:
        raise ConfigError(f"{g.where}: [{g.path}] asks for {quant} but lists no modules")
    if quant in ("fp32", "fp16") and modules:
        raise ConfigError(f"{g.where}: [{g.path}] is {quant} (the whole graph) but lists modules to quantise; "
                          "remove them or use quant = \"int8_dynamic\"")
    if "group_size" in set(g.keys()) and quant != "int8_dynamic_int4_weight":
        raise ConfigError(f"{g.where}: [{g.path}] group_size only applies to quant = \"int8_dynamic_int4_weight\"")
    group = g.integer("group_size", DEFAULT_GROUP_SIZE, low=1, high=65536)
    if group & (group - 1):
        raise ConfigError(f"{g.where}: [{g.path}] group_size {group} is not a power of two; use 32, 64, 128 or 256")
    return GraphRecipe(quant, g.number("min_snr_db", low=-200.0, high=400.0), modules, group)


def parse_recipe(text: str, source: str, default_name: str) -> ExportRecipe:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source} is not valid TOML ({exc})") from None
    top = Fields(raw, source)
    unknown = sorted(set(top.keys()) - {"name", "description", "graphs", "end_to_end"})
    if unknown:
        raise ConfigError(f"{source}: unknown key(s) {', '.join(unknown)}; known: name, description, graphs, end_to_end")
    graphs_f = top.obj("graphs")
    strange = sorted(set(graphs_f.keys()) - set(GRAPHS))
    if strange:
        raise ConfigError(f"{source}: unknown graph(s) {', '.join(strange)}; a recipe describes {', '.join(GRAPHS)}")
    graphs = {name: _graph_recipe(g) for name, g in graphs_f.each()}
    for needed in GRAPHS[:3]:
        if needed not in graphs:
            raise ConfigError(f"{source}: missing [graphs.{needed}]")
    e2e = top.obj("end_to_end")
    if sorted(set(e2e.keys()) - {"min_snr_db"}):
        raise ConfigError(f"{source}: [end_to_end] takes only min_snr_db")
    return ExportRecipe(top.string("name", default_name), top.string("description", ""), graphs,
                        e2e.number("min_snr_db", low=-200.0, high=400.0), source)


def load_export_recipe(name_or_path: str) -> ExportRecipe:
    """A built-in recipe by name (or optimum's --qlinear name), or a .toml file."""
    name = QLINEAR_NAMES.get(name_or_path, name_or_path)
    if name in available_recipes():
        text = _builtin_dir().joinpath(f"{name}.toml").read_text()
        return parse_recipe(text, f"built-in recipe '{name}'", name)
    path = Path(name_or_path)
    if path.suffix != ".toml" or not path.exists():
        raise ConfigError(f"unknown export recipe '{name_or_path}'; choose one of "
                          f"{', '.join(available_recipes())} or give a .toml path")
    return parse_recipe(read_text(path, "export recipe", max_bytes=1 << 20), str(path), path.stem)
