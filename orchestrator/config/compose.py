"""Compose configs with Hydra's compose API and turn its errors into one-line fixes.

We compose ourselves rather than use `@hydra.main`: the orchestrator composes once per
grid cell (one driver schedules every cell and loads each model once), and Hydra's own
error report is several lines with no suggestion. Here every mistake becomes one `UserError` line.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.core.config_store import ConfigStore
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import ConfigCompositionException, MissingConfigException, OverrideParseException
from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import ConfigKeyError, MissingMandatoryValue, ValidationError

from orchestrator.config import groups, schema
from orchestrator.config.groups import StudyConfig
from orchestrator.config.schema import RootConfig
from orchestrator.config.where import CONF_DIR
from orchestrator.errors import UserError, did_you_mean

GROUPS = ("model", "engine", "dataset", "prompt_variant", "study", "tracker", "judges", "sweep")

ConfigStore.instance().store(name="config_schema", node=RootConfig)
# Annotation text -> dataclass, for walking the schema (annotations are strings here).
_DATACLASSES: dict[str, type] = {
    name: obj
    for module in (groups, schema)
    for name, obj in vars(module).items()
    if isinstance(obj, type) and dataclasses.is_dataclass(obj)
}


class Composer:
    """Owns the Hydra global state for one process; composes root configs by overrides."""

    def __init__(self, conf_dir: Path = CONF_DIR) -> None:
        GlobalHydra.instance().clear()
        self._ctx = initialize_config_dir(config_dir=str(conf_dir), version_base="1.3")
        self._ctx.__enter__()
        self.conf_dir = conf_dir

    def close(self) -> None:
        self._ctx.__exit__(None, None, None)

    def options(self, group: str) -> list[str]:
        """The files of a config group, e.g. the model names."""
        folder = self.conf_dir / group
        return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []

    def is_group(self, key: str) -> bool:
        return (self.conf_dir / key).is_dir()

    def compose(self, overrides: list[str], with_hydra: bool = False) -> DictConfig:
        """The root config under these overrides, or a one-line `UserError`; `with_hydra`:
        with Hydra's own node (`--cfg hydra`)."""
        try:
            cfg = compose(config_name="config", overrides=overrides, return_hydra_config=with_hydra)
        except (ConfigCompositionException, MissingConfigException, OverrideParseException) as e:
            raise UserError(self._explain(e, overrides)) from None
        except (ConfigKeyError, ValidationError) as e:
            raise UserError(explain_omegaconf(e)) from None
        return cfg

    def load(self, overrides: list[str]) -> tuple[DictConfig, RootConfig]:
        """Compose and validate the root config of a command line."""
        cfg = self.compose(overrides)
        refuse_environment_reads(cfg)  # before anything resolves an interpolation
        check_keys(cfg, RootConfig)
        if OmegaConf.is_missing(cfg.sweep, "name"):
            raise UserError(
                "no sweep chosen: add +sweep=NAME, one of " + ", ".join(self.options("sweep"))
            )
        root = to_root(cfg)
        # From here `study` holds every setting of the study's schema, defaults included:
        # what config.yaml and W&B record (the node stays an open dict for Hydra).
        with open_dict(cfg):
            cfg.study = OmegaConf.to_container(OmegaConf.structured(root.study))
        return cfg, root

    def _explain(self, error: Exception, overrides: list[str]) -> str:
        text = str(error)
        cause = error.__cause__
        if isinstance(cause, (ConfigKeyError, ValidationError)):
            return explain_omegaconf(cause)
        missing = re.search(r"Could not find '([^/']+)/([^']+)'", text)
        if missing:
            group, name = missing.groups()
            return (
                f"there is no {group} '{name}' in conf/{group}/"
                f"{did_you_mean(name, self.options(group))}"
            )
        bad_key = re.search(r"Could not override '([^']+)'", text)
        if bad_key:
            key = bad_key.group(1)
            return f"unknown config key '{key}'{suggest_key(key)}"
        return text.splitlines()[0] if text else type(error).__name__


# Interpolations whose resolver reads the environment (OmegaConf's `oc.env`, Hydra's legacy
# `env`): resolved, their values would be written to config.yaml, W&B and the events.
ENV_RESOLVER = re.compile(r"\$\{\s*(oc\.env|env)\s*:")


def refuse_environment_reads(cfg: DictConfig) -> None:
    """Refuse `${oc.env:...}` anywhere in the config: every setting is logged, so a secret
    read into one (`sweep.description=${oc.env:OPENAI_API_KEY}`) would be stored. Keys reach
    the code only through the named `*_env` settings, read where they are used."""
    for key, value in _strings(OmegaConf.to_container(cfg, resolve=False), ""):
        if ENV_RESOLVER.search(value):
            raise UserError(
                f"{key} reads the environment ({value[:60]}): every setting is written to "
                "config.yaml and W&B, so none may hold an environment variable's value; "
                "credentials are read from the variables the *_env settings name"
            )


def _strings(node: object, prefix: str) -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _strings(v, f"{prefix}{k}.")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _strings(v, f"{prefix}{i}.")
    elif isinstance(node, str):
        yield prefix.rstrip("."), node


# Key names that hold a credential: refused with a pointer to the environment instead.
SECRET_NAMES = re.compile(r"(^|_)(api_?key|key|token|secret|password)$", re.IGNORECASE)


def check_keys(
    node: DictConfig, schema: type, prefix: str = "", types: dict[str, type] | None = None
) -> None:
    """Refuse keys the schema does not declare. `+key=value` overrides may add any key, and
    `OmegaConf.to_object` would silently drop it: a typo must not be ignored. Entries of a
    `dict[str, <dataclass>]` (judges) are checked against that dataclass too. `types` maps
    annotation text to the dataclasses a schema nests (the engine's by default)."""
    types = types or _DATACLASSES
    fields = {f.name: f for f in dataclasses.fields(schema)}
    for key in node:
        name = str(key)
        if name not in fields:
            full = f"{prefix}{name}"
            if SECRET_NAMES.search(name):
                raise UserError(
                    f"config key '{full}' would put a credential in the config (and so in "
                    "config.yaml and W&B): export it in the environment instead (judges read "
                    "theirs from the variable named by api_key_env, OPENAI_API_KEY by default)"
                )
            hint = did_you_mean(name, list(fields)).replace("'", f"'{prefix}", 1)
            raise UserError(f"unknown config key '{full}'{hint}")
        child = node[name] if not OmegaConf.is_missing(node, name) else None
        kind = fields[name].type
        sub_schema = types.get(kind) if isinstance(kind, str) else None
        if sub_schema and isinstance(child, DictConfig):
            check_keys(child, sub_schema, f"{prefix}{name}.", types)
        entries = DICT_OF.match(kind) if isinstance(kind, str) else None
        entry_schema = types.get(entries[1]) if entries else None
        if entry_schema and isinstance(child, DictConfig):
            for entry in child:
                value = child[entry]
                if isinstance(value, DictConfig):
                    check_keys(value, entry_schema, f"{prefix}{name}.{entry!s}.", types)


# `dict[str, JudgeConfig]` -> JudgeConfig
DICT_OF = re.compile(r"^dict\[str, (\w+)\]$")


def suggest_key(full_key: str) -> str:
    """A did-you-mean for a dotted key, searched among the schema's keys at that level; under
    `grid.` among the keys an axis can vary (`grid.sed` -> `grid.seed`)."""
    if full_key.startswith("grid.") and full_key.count(".") >= 1:
        hint = suggest_key(full_key.removeprefix("grid."))
        return hint.replace(" '", " 'grid.", 1) if "did you mean" in hint else ""
    parent, _, leaf = full_key.rpartition(".")
    parts = parent.split(".") if parent else []
    roots: list[Any] = [OmegaConf.structured(RootConfig)]
    if parts[:1] == ["study"]:  # any study's keys (the failed compose named none yet)
        roots, parts = [OmegaConf.structured(s) for s in _study_schemas()], parts[1:]
    keys: set[str] = set()
    for node in roots:
        for part in parts:
            node = node[part] if isinstance(node, DictConfig) and part in node else None
        if isinstance(node, DictConfig):
            keys |= {str(k) for k in node}
    prefix = f"{parent}." if parent else ""
    if leaf in keys:  # a schema key the yaml file leaves out: Hydra needs it added
        return f" (the config file leaves it out: add it with +{full_key}=...)"
    return did_you_mean(leaf, sorted(keys)).replace("'", f"'{prefix}", 1) if keys else ""


def _study_schemas() -> list[type]:
    from orchestrator.studies import STUDIES, get_study

    return [getattr(get_study(name), "schema", StudyConfig) for name in STUDIES]


def explain_omegaconf(error: Exception) -> str:
    """One line for an OmegaConf key or type error, naming the key and the fix."""
    full_key = getattr(error, "full_key", None) or ""
    message = str(error).splitlines()[0]
    if isinstance(error, ConfigKeyError):
        return f"unknown config key '{full_key}'{suggest_key(full_key)}"
    if isinstance(error, MissingMandatoryValue):
        return f"'{full_key}' has no value: set it, e.g. {full_key}=..."
    return f"bad value for '{full_key}': {message}"


def to_root(cfg: DictConfig) -> RootConfig:
    """Resolve and validate a composed config into the frozen-in-spirit dataclass tree."""
    try:
        obj = OmegaConf.to_object(cfg)
    except (ConfigKeyError, ValidationError, MissingMandatoryValue) as e:
        raise UserError(explain_omegaconf(e)) from None
    assert isinstance(obj, RootConfig)
    obj.study = study_config(cfg.study)
    return obj


def study_config(node: DictConfig) -> StudyConfig:
    """`study.*` as the named study's own schema (`STUDY.schema`; StudyConfig when it
    declares none), with the same one-line errors as the rest of the config."""
    from orchestrator.studies import get_study  # the registry: imports the study only now

    name = str(node.get("name", "prompted"))
    schema: type[StudyConfig] = getattr(get_study(name), "schema", StudyConfig)
    own = vars(sys.modules[schema.__module__]).items()
    types = {k: v for k, v in own if isinstance(v, type) and dataclasses.is_dataclass(v)}
    check_keys(node, schema, "study.", {**_DATACLASSES, **types})
    holder = dataclasses.make_dataclass(
        "Study", [("study", schema, dataclasses.field(default_factory=schema))]
    )
    try:
        obj = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(holder), {"study": node}))
    except (ConfigKeyError, ValidationError, MissingMandatoryValue) as e:
        raise UserError(explain_omegaconf(e)) from None
    study = getattr(obj, "study", None)
    assert isinstance(study, StudyConfig)
    return study


def config_dict(root: RootConfig) -> dict[str, Any]:
    """A config object as plain data (what the tracker records), its study with the fields
    of the study's own schema."""
    open_study: Any = {}  # what Hydra's schema declares there (compose.study_config)
    plain: dict[str, Any] = OmegaConf.to_container(  # type: ignore[assignment]
        OmegaConf.structured(dataclasses.replace(root, study=open_study))
    )
    plain["study"] = dataclasses.asdict(root.study)
    return plain
