"""Export recipes (export/recipes/*.toml): per-graph quantisation and parity thresholds, as data."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError

RECIPE_DIR = Path(__file__).resolve().parents[2] / "export" / "recipes"
QUANT_MODES = ("fp32", "int8_dynamic")
QUANTIZABLE_MODULES = ("Linear",)


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


def available_recipes() -> list[str]:
    return sorted(p.stem for p in RECIPE_DIR.glob("*.toml"))


def load_export_recipe(name_or_path: str) -> ExportRecipe:
    path = Path(name_or_path)
    if not path.suffix:
        path = RECIPE_DIR / f"{name_or_path}.toml"
    if not path.is_file():
        raise ConfigError(f"unknown export recipe '{name_or_path}'; choose one of "
                          f"{', '.join(available_recipes())} or give a .toml path")
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML ({exc})") from None
    graphs = {}
    for gname in ("conditioners", "dit", "decoder", "encoder"):
        g = raw.get("graphs", {}).get(gname)
        if g is None:
            raise ConfigError(f"{path}: missing [graphs.{gname}]")
        if g.get("quant") not in QUANT_MODES:
            raise ConfigError(f"{path}: graphs.{gname}.quant must be one of {', '.join(QUANT_MODES)}")
        modules = tuple(g.get("modules", []))
        bad = [m for m in modules if m not in QUANTIZABLE_MODULES]
        if bad:
            raise ConfigError(f"{path}: graphs.{gname}.modules {bad} cannot be dynamically quantised on XNNPACK; "
                              f"use {', '.join(QUANTIZABLE_MODULES)}")
        if g["quant"] == "int8_dynamic" and not modules:
            raise ConfigError(f"{path}: graphs.{gname} asks for int8_dynamic but lists no modules")
        graphs[gname] = GraphRecipe(g["quant"], float(g.get("min_snr_db", 60.0)), modules)
    return ExportRecipe(str(raw.get("name", path.stem)), str(raw.get("description", "")), graphs,
                        float(raw.get("end_to_end", {}).get("min_snr_db", 10.0)), str(path))
