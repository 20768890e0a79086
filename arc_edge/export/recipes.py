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
QUANT_MODES = ("fp32", "int8_dynamic")
QUANTIZABLE_MODULES = ("Linear",)
# optimum-cli's vocabulary for the same recipes (--qlinear 8da8w = 8-bit dynamic activations, 8-bit weights)
QLINEAR_NAMES = {"8da8w": "int8"}


@dataclass(frozen=True)
class GraphRecipe:
    quant: str
    min_snr_db: float
    modules: tuple[str, ...] = field(default_factory=tuple)

    def to_json(self) -> dict:
        return {"quant": self.quant, "modules": list(self.modules), "min_snr_db": self.min_snr_db}


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
    unknown = sorted(set(g.keys()) - {"quant", "modules", "min_snr_db"})
    if unknown:
        raise ConfigError(f"{g.where}: unknown key(s) {', '.join(unknown)} in [{g.path}]; "
                          "known: quant, modules, min_snr_db")
    quant = g.string("quant", choices=QUANT_MODES)
    modules = tuple(g.items("modules", str_item(g.where), []))
    bad = [m for m in modules if m not in QUANTIZABLE_MODULES]
    if bad:
        raise ConfigError(f"{g.where}: [{g.path}] modules {bad} cannot be dynamically quantised on XNNPACK; "
                          f"use {', '.join(QUANTIZABLE_MODULES)}")
    if quant == "int8_dynamic" and not modules:
        raise ConfigError(f"{g.where}: [{g.path}] asks for int8_dynamic but lists no modules")
    if quant == "fp32" and modules:
        raise ConfigError(f"{g.where}: [{g.path}] is fp32 but lists modules to quantise; remove them or "
                          "use quant = \"int8_dynamic\"")
    return GraphRecipe(quant, g.number("min_snr_db", low=-200.0, high=400.0), modules)


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
