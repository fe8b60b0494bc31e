"""What the command line's informational flags print; none of them runs anything.

`--help` lists what the config folders hold, `--info` where they are, `--cfg` the composed
config (as the run would record it in config.yaml), and `--shell-completion install=bash`
a bash function that asks `mosweep --complete WORD` for the words that fit.
"""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from orchestrator.cli import FLAGS, Command, options, override_key, search_path
from orchestrator.config.compose import GROUPS, Composer
from orchestrator.config.schema import MODES
from orchestrator.errors import UserError

USAGE = """usage: mosweep +sweep=NAME [key=value ...]      (or: python -m orchestrator ...)

Runs a sweep (conf/sweep/NAME.yaml): expands its grid into cells, runs the missing shards
on Ray + vLLM, writes Parquet under output_root/NAME/results. Re-run to resume.

  mode=run (default) | mode=dry (print the plan) | mode=status (progress on disk)
  mode=judge (re-score saved rows) | mode=report (tables, figures, report.html)
  mode=judge_eval (each judge against human-labelled items: AUROC, accuracy)
  key=value           override any config key, e.g. sampling.temperature=0
  '+grid.KEY=[a,b]'   add a grid axis; ray.address=auto joins a running cluster
  -m KEY=a,b          the same axis, Hydra's way

  --cfg job|hydra|all print the composed config and run nothing (--package KEY: one part
                      of it; --resolve: interpolations resolved)
  --info              the config search path and every config group's options
  --config-dir DIR    also read configs from DIR (DIR/model/my_model.yaml, DIR/sweep/...)
  --shell-completion install=bash
                      print a bash completion script: eval "$(mosweep -sc install=bash)"

Sweeps, models and the rest: below, in conf/ and in README.md."""

# what --help lists, in this order
LISTED = (
    ("sweep", "sweeps (+sweep=NAME)"),
    ("model", "models (model=NAME)"),
    ("dataset", "data sets (dataset=NAME)"),
    ("prompt_variant", "prompt variants (prompt_variant=NAME)"),
    ("study", "studies (study=NAME)"),
    ("judges", "judge sets (judges=NAME)"),
)


def help_text(command: Command) -> str:
    listed = [f"{title}:\n  {', '.join(options(command, group))}" for group, title in LISTED]
    return "\n\n".join([USAGE, *listed])


def info_text(command: Command) -> str:
    lines = ["config search path (first match wins):"]
    lines += [f"  file://{folder}" for folder in search_path(command)]
    lines.append("config groups:")
    lines += [f"  {group}: {', '.join(options(command, group))}" for group in GROUPS]
    return "\n".join(lines)


def cfg_text(command: Command) -> str:
    """The composed config: `job` is what a run records in config.yaml (the study's
    settings with their defaults), `hydra` Hydra's own node, `all` both."""
    part = command.flags["--cfg"]
    composer = Composer()
    try:
        chosen = any(override_key(o) == "sweep" for o in command.overrides)
        cfg: DictConfig = (
            composer.load(command.overrides)[0] if chosen else composer.compose(command.overrides)
        )
        if part != "job":
            hydra = OmegaConf.to_container(composer.compose(command.overrides, True).hydra)
            job = {} if part == "hydra" else OmegaConf.to_container(cfg)
            cfg = OmegaConf.create({**job, "hydra": hydra})  # type: ignore[dict-item]
    finally:
        composer.close()
    if "--package" not in command.flags:
        return OmegaConf.to_yaml(cfg, resolve=command.has("--resolve"))
    key = command.flags["--package"]
    node = OmegaConf.select(cfg, key, default=None)
    if node is None:
        raise UserError(f"--package {key}: the composed config has no key {key}")
    if not OmegaConf.is_config(node):
        return f"# @package {key}\n{node}\n"
    return f"# @package {key}\n" + OmegaConf.to_yaml(node, resolve=command.has("--resolve"))


def complete(command: Command, word: str) -> list[str]:
    """The words that fit `word` where the cursor is: a group's options after `group=`, a
    mode after `mode=`, else groups, keys and flags."""
    key, eq, typed = word.partition("=")
    if eq:
        group = key.lstrip("+")
        values = MODES if group == "mode" else options(command, group)
        return [f"{key}={v}" for v in values if v.startswith(typed)]
    if word.startswith("-"):
        return sorted({flag for flag in FLAGS if flag.startswith(word) and flag != "--complete"})
    keys = ["+sweep=", "mode=", *(f"{g}=" for g in GROUPS if g != "sweep")]
    keys += ["seed=", "shard_size=", "output_root=", "sampling.", "'+grid."]
    return [k for k in keys if k.startswith(word)]


BASH = r"""_mosweep() {
  local line="${COMP_LINE:0:$COMP_POINT}"
  local word="${line##* }"
  local IFS=$'\n'
  COMPREPLY=( $(mosweep --complete "$word" 2>/dev/null) )
  # bash replaces only the text after the last '=' or ':' of the word (COMP_WORDBREAKS)
  local cut="${word%"${word##*[=:]}"}"
  if [ -n "$cut" ]; then COMPREPLY=( "${COMPREPLY[@]#"$cut"}" ); fi
}
complete -o nospace -F _mosweep mosweep
"""


def completion_script(value: str) -> str:
    if value != "install=bash":
        raise UserError(
            f"--shell-completion {value}: use --shell-completion install=bash (zsh reads it "
            "after `autoload -U bashcompinit && bashcompinit`)"
        )
    return BASH
