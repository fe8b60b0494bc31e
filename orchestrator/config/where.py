"""Where the shipped configs and templates are: the top-level conf/ of a source checkout, or
its copy inside the installed package (setup.py ships conf/ as `orchestrator/conf`), so an
installed `mosweep` finds them from any folder."""

from __future__ import annotations

from pathlib import Path

_PACKAGED = Path(__file__).resolve().parents[1] / "conf"  # an installed wheel's
_SOURCE = Path(__file__).resolve().parents[2] / "conf"  # a checkout's (also when editable)

CONF_DIR = _PACKAGED if (_PACKAGED / "config.yaml").is_file() else _SOURCE
TEMPLATE_DIR = CONF_DIR / "templates"
