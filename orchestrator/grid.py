"""Expand a sweep's axes into cells: fully resolved configs with deterministic ids.

An axis key is either a config group (`model`, `prompt_variant`: its values are file names)
or a dotted config key (`seed`, `sampling.temperature`, `study.vars.tier`). The root config
is composed once per combination of group choices; dotted keys are then set on a copy, so
a large grid costs one Hydra compose per distinct group combination, not per cell.
"""

from __future__ import annotations

import copy
import itertools
from dataclasses import asdict, dataclass
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import ConfigKeyError, ValidationError

from orchestrator import models
from orchestrator.cli import override_key
from orchestrator.config.compose import Composer, explain_omegaconf, suggest_key, to_root
from orchestrator.config.groups import SamplingConfig, flatten_grid
from orchestrator.config.schema import RootConfig
from orchestrator.datasets import Dataset, load_dataset
from orchestrator.errors import UserError, did_you_mean
from orchestrator.ids import stable_hash
from orchestrator.studies import get_study

# Keys that steer the run rather than describe an experiment: never grid axes.
NOT_AXES = ("grid", "sweep", "mode", "output_root", "ray", "tracker", "judges")


@dataclass(frozen=True)
class Cell:
    """One point of the grid."""

    id: str
    config: RootConfig
    axes: dict[str, Any]
    dataset: Dataset

    @property
    def model(self) -> str:
        return self.config.model.name


def cell_id(cfg: RootConfig, dataset_hash: str) -> str:
    """Hash of everything that changes this cell's outputs, and nothing that does not.

    In: study content (templates, vars), model identity and dtype, engine kind, sampling,
    seed, dataset content. Out: replicas, shard size, concurrency, retries, paths, tracker.
    Names (model, variant) are in because they are written into every row.
    """
    payload = {
        "study": [cfg.study.name, get_study(cfg.study.name).cell_payload(cfg)],
        "model": models.identity(cfg.model),
        "engine": [cfg.engine.name, cfg.engine.device, cfg.engine.dtype, cfg.engine.cpu_dtype],
        "sampling": sampling_identity(cfg.sampling),
        "seed": cfg.seed,
        "dataset": dataset_hash,
    }
    return stable_hash(payload, 12)


def sampling_identity(sampling: SamplingConfig) -> dict[str, Any]:
    """The sampling parameters as they enter a cell id: `stop` came later, so without stop
    strings a cell keeps the id (and the finished shards) it had before."""
    values = asdict(sampling)
    return values if values["stop"] else {k: v for k, v in values.items() if k != "stop"}


def _check_axis(composer: Composer, base: DictConfig, key: str) -> None:
    head = key.split(".")[0]
    if head in NOT_AXES:
        raise UserError(f"grid.{key}: '{head}' steers the run and cannot be a grid axis")
    if composer.is_group(key):
        return
    parent = key.rpartition(".")[0]
    node = OmegaConf.select(base, parent) if parent else base
    open_ended = isinstance(node, DictConfig) and OmegaConf.get_type(node) is dict
    if not open_ended and OmegaConf.select(base, key, default=KeyError) is KeyError:
        hint = suggest_key(key) or did_you_mean(head, [str(k) for k in base])
        raise UserError(f"grid.{key} is not a config key or group{hint}")


def _set(cfg: DictConfig, key: str, value: Any) -> None:
    parent = key.rpartition(".")[0]
    node = OmegaConf.select(cfg, parent) if parent else cfg
    try:
        if isinstance(node, DictConfig) and OmegaConf.get_type(node) is dict:
            with open_dict(node):  # study.vars and other free-form dicts take new keys
                OmegaConf.update(cfg, key, value, merge=False)
        else:
            OmegaConf.update(cfg, key, value, merge=False)
    except (ConfigKeyError, ValidationError) as e:
        raise UserError(f"grid.{key}={value!r}: {explain_omegaconf(e)}") from None


def expand(composer: Composer, overrides: list[str], base: DictConfig) -> list[Cell]:
    """All cells of the grid in `base` (the config composed from `overrides`), in axis order."""
    datasets: dict[str, Dataset] = {}
    grid = flatten_grid(OmegaConf.to_container(base.grid, resolve=True))  # type: ignore[arg-type]
    for key in grid:
        _check_axis(composer, base, key)
    _check_not_overridden(overrides, grid)
    group_axes = [k for k in grid if composer.is_group(k)]
    composed: dict[tuple[str, ...], DictConfig] = {}
    cells: list[Cell] = []
    for values in itertools.product(*grid.values()):
        axes = dict(zip(grid, values, strict=True))
        choice = tuple(f"{k}={axes[k]}" for k in group_axes)
        if choice not in composed:
            composed[choice] = composer.compose([*overrides, *choice])
        cfg = copy.deepcopy(composed[choice])
        for key, value in axes.items():
            if key not in group_axes:
                _set(cfg, key, value)
        root = to_root(cfg)
        key = stable_hash(asdict(root.dataset))
        if key not in datasets:  # a dataset can be an axis too: load each one once
            datasets[key] = load_dataset(root.dataset)
        data = datasets[key]
        cells.append(Cell(id=cell_id(root, data.hash), config=root, axes=axes, dataset=data))
    if not cells:
        raise UserError("the grid is empty: give every grid axis at least one value")
    _check_distinct(cells)
    return cells


def _check_not_overridden(overrides: list[str], grid: dict[str, list[Any]]) -> None:
    """A key set on the command line that is also a grid axis would be replaced by the
    axis's values in every cell, silently: refuse it and name the axis to set instead."""
    for override in overrides:
        key, value = override_key(override), override.partition("=")[2]
        if key in grid:
            values = ",".join(str(v) for v in grid[key])
            raise UserError(
                f"{key}={value} is replaced by the grid's {key} axis (grid.{key}=[{values}]) "
                f"in every cell: set grid.{key}=[{value}] instead"
            )


def _check_distinct(cells: list[Cell]) -> None:
    """Two cells with one id would write their rows into one cell: refuse the grid. It
    happens when an axis changes nothing the study puts in a cell's id."""
    seen: dict[str, Cell] = {}
    for cell in cells:
        other = seen.setdefault(cell.id, cell)
        if other is cell:
            continue
        axes = [k for k in cell.axes if cell.axes[k] != other.axes[k]]
        raise UserError(
            f"grid cells {_describe(other.axes, axes)} and {_describe(cell.axes, axes)} are "
            f"the same cell: study '{cell.config.study.name}' produces the same outputs for "
            f"every value of {', '.join(axes)}; drop that axis from the grid"
        )


def _describe(axes: dict[str, Any], keys: list[str]) -> str:
    return ",".join(f"{k}={axes[k]}" for k in keys)
