"""Hydra's command-line flags, for a command that composes with Hydra's compose API.

`mosweep` (and `python -m orchestrator`) take what Hydra users type: `--cfg job|hydra|all`
(with `--package KEY` and `--resolve`) prints the composed config and runs nothing,
`--info` the search path and the config groups, `--help` the sweeps, models, data sets and
prompt variants there are, `--config-dir DIR` adds a folder of the user's own configs,
`-m key=a,b` sweeps a key (it becomes the grid axis `grid.key=[a,b]`), and
`--shell-completion install=bash` prints the completion script. Everything else is an
override, as before. A flag mosweep does not take is one line naming those it does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.config.where import CONF_DIR
from orchestrator.errors import UserError

# flag -> (its long name, whether it takes a value)
FLAGS = {
    "-h": ("--help", False),
    "--help": ("--help", False),
    "-c": ("--cfg", True),
    "--cfg": ("--cfg", True),
    "-p": ("--package", True),
    "--package": ("--package", True),
    "--resolve": ("--resolve", False),
    "-i": ("--info", False),
    "--info": ("--info", False),
    "-m": ("--multirun", False),
    "--multirun": ("--multirun", False),
    "-cd": ("--config-dir", True),
    "--config-dir": ("--config-dir", True),
    "-sc": ("--shell-completion", True),
    "--shell-completion": ("--shell-completion", True),
    "--complete": ("--complete", True),  # what the completion script calls
}
CFG_PARTS = ("job", "hydra", "all")


@dataclass
class Command:
    overrides: list[str] = field(default_factory=list)
    flags: dict[str, str] = field(default_factory=dict)  # long name -> value ("" if none)
    config_dirs: list[Path] = field(default_factory=list)

    def has(self, flag: str) -> bool:
        return flag in self.flags


def parse(argv: list[str]) -> Command:
    """Flags and overrides of a command line; overrides keep their order."""
    command = Command()
    words = iter(argv)
    for word in words:
        if not word.startswith("-"):  # key=value, +key=value, ~key: Hydra's overrides
            command.overrides.append(word)
            continue
        name, _, inline = word.partition("=") if word.startswith("--") else (word, "", "")
        if name not in FLAGS:
            raise UserError(
                f"{word}: not an option mosweep takes; it takes --help, --info, --cfg "
                "job|hydra|all (--package KEY, --resolve), --config-dir DIR, -m and "
                "--shell-completion install=bash, and key=value overrides"
            )
        long, takes = FLAGS[name]
        value = inline
        if takes and not value:
            value = next(words, "")
            if not value or value.startswith("-"):
                raise UserError(f"{word} needs a value, e.g. {long} {_example(long)}")
        if long == "--config-dir":
            command.config_dirs.append(config_dir(value))
        command.flags[long] = value
    if command.has("--cfg") and command.flags["--cfg"] not in CFG_PARTS:
        raise UserError(f"--cfg {command.flags['--cfg']}: use --cfg job, --cfg hydra or --cfg all")
    command.overrides = sweep_overrides(command.overrides, command.has("--multirun"))
    if command.config_dirs:
        if any(o.startswith("hydra.searchpath=") for o in command.overrides):
            raise UserError("give --config-dir or hydra.searchpath=[...], not both")
        found = ",".join(f"file://{d}" for d in command.config_dirs)
        command.overrides.append(f"hydra.searchpath=[{found}]")
    return command


def _example(flag: str) -> str:
    return {
        "--cfg": "job",
        "--package": "sampling",
        "--config-dir": "my_conf",
        "--shell-completion": "install=bash",
        "--complete": "model=",
    }[flag]


def override_key(override: str) -> str:
    """The config key an override sets: `+grid.seed=[0,1]` -> `grid.seed`, `~db` -> `db`."""
    return override.lstrip("+~").partition("=")[0]


def sweep_overrides(overrides: list[str], multirun: bool) -> list[str]:
    """`key=a,b` under -m becomes the grid axis `++grid.key=[a,b]` (set or replaced); without
    -m it is refused with the two ways to say it."""
    out = []
    for override in overrides:
        axis, value = override_key(override), override.partition("=")[2]
        if not _is_list(value) or axis.startswith(("grid.", "hydra.")):
            out.append(override)
            continue
        if not multirun:
            raise UserError(
                f"{override} gives {axis} several values: add -m to sweep them as a grid axis, "
                f"or write '+grid.{axis}=[{value}]'"
            )
        out.append(f"++grid.{axis}=[{value}]")
    return out


def _is_list(value: str) -> bool:
    """A top-level comma outside brackets and quotes: Hydra's sweep syntax `a,b`."""
    depth, quote = 0, ""
    for char in value:
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "[({":
            depth += 1
        elif char in "])}":
            depth -= 1
        elif char == "," and depth == 0:
            return True
    return False


def config_dir(value: str) -> Path:
    """A user's config folder: it exists, and no file of it has the name of a shipped one
    (Hydra reads the shipped config first: the user's would be silently unused)."""
    folder = Path(value).expanduser().resolve()
    if not folder.is_dir():
        raise UserError(f"--config-dir {value}: no such folder")
    for path in sorted(folder.glob("*/*.yaml")):
        shipped = CONF_DIR / path.parent.name / path.name
        if shipped.is_file():
            raise UserError(
                f"{path} has the name of a shipped config ({path.parent.name}/{path.name}), "
                "which is read first: give yours another name"
            )
    return folder


def search_path(command: Command) -> list[Path]:
    """Where configs are looked up, in order: the shipped ones, then --config-dir's."""
    return [CONF_DIR, *command.config_dirs]


def options(command: Command, group: str) -> list[str]:
    """The config names of a group, over the whole search path."""
    return sorted({p.stem for d in search_path(command) for p in (d / group).glob("*.yaml")})
