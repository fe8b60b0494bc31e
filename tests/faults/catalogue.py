"""The bad-input catalogue: each case is a command line (and the files or environment it
needs) that must fail before any job starts, with one line that says what to change.

tests/faults/test_bad_inputs.py runs every case against an output folder that already holds
a finished sweep and checks the error and that nothing written is lost; it also checks that
docs/bad_inputs.md shows what the cases really print. Regenerate that file with

    python -m tests.faults.catalogue
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "bad_inputs.md"


def _write(name: str, text: str) -> Callable[[Path], None]:
    def setup(tmp: Path) -> None:
        (tmp / name).write_text(text)

    return setup


def _write_bytes(name: str, data: bytes) -> Callable[[Path], None]:
    def setup(tmp: Path) -> None:
        (tmp / name).write_bytes(data)

    return setup


def _folder(name: str) -> Callable[[Path], None]:
    def setup(tmp: Path) -> None:
        (tmp / name).mkdir()

    return setup


def _linked_report(tmp: Path) -> None:
    """A sweep folder whose report/ is a link to a folder of the user's."""
    (tmp / "runs" / "tiny").mkdir(parents=True)
    (tmp / "figures").mkdir()
    (tmp / "runs" / "tiny" / "report").symlink_to(tmp / "figures")


def _shadowing_config(tmp: Path) -> None:
    """A folder of the user's configs with a model named like a shipped one."""
    (tmp / "mine" / "model").mkdir(parents=True)
    (tmp / "mine" / "model" / "tiny.yaml").write_text("name: tiny\n")


def _torn_config(tmp: Path) -> None:
    """A sweep folder whose config.yaml was cut short (a full disk, a copy interrupted)."""
    (tmp / "runs" / "tiny" / "results").mkdir(parents=True)
    (tmp / "runs" / "tiny" / "config.yaml").write_text("study:\n  name: [prompted\n")


@dataclass(frozen=True)
class BadInput:
    area: str
    what: str  # the mistake, in words
    args: tuple[str, ...]  # overrides after +sweep=...; {tmp} is the case's scratch folder
    expect: str  # the error line must contain this
    sweep: str = "tiny"
    setup: Callable[[Path], None] | None = None
    env: dict[str, str | None] = field(default_factory=dict)  # None: unset it
    varies: bool = False  # the first (...) quotes a library's words, which differ by machine

    @property
    def id(self) -> str:
        return f"{self.area}: {self.what}"


AF_OPENAI = ("judges.compliance.backend=openai", "judges.compliance.model=gpt-4o-mini")
OWN_SYSTEM = ("grid.prompt_variant=[af_custom]", "prompt_variant.system_file={tmp}/s.j2")
OWN_JSONL = ("dataset.source=jsonl", "dataset.path={tmp}/d.jsonl")

CASES = [
    BadInput(
        "command line",
        "a flag mosweep does not take",
        ("--cfgg", "job"),
        "--cfgg: not an option mosweep takes; it takes --help, --info, --cfg",
    ),
    BadInput(
        "command line",
        "several values for one key, without -m",
        ("seed=0,1",),
        "seed=0,1 gives seed several values: add -m to sweep them as a grid axis, or write "
        "'+grid.seed=[0,1]'",
    ),
    BadInput(
        "command line",
        "a config of the user's named like a shipped one",
        ("--config-dir", "{tmp}/mine"),
        "has the name of a shipped config (model/tiny.yaml), which is read first: give yours "
        "another name",
        setup=_shadowing_config,
    ),
    BadInput(
        "config",
        "misspelt key",
        ("sampling.temprature=0.5",),
        "unknown config key 'sampling.temprature' (did you mean 'sampling.temperature'?)",
    ),
    BadInput("config", "unknown sweep", (), "tinyy", sweep="tinyy"),
    BadInput("config", "value out of range", ("sampling.top_p=1.5",), "sampling.top_p must be in"),
    BadInput(
        "config",
        "an empty stop string",
        ("sampling.stop=['']",),
        "sampling.stop must be a list of non-empty strings",
    ),
    BadInput("config", "value of the wrong type", ("shard_size=big",), "shard_size"),
    BadInput("config", "unknown mode", ("mode=go",), "mode='go' is unknown"),
    BadInput(
        "config",
        "grid axis that is no config key",
        ("+grid.sampling.temp=[0,1]",),
        "is not a config key",
    ),
    BadInput("config", "empty grid axis", ("grid.seed=[]",), "must be a non-empty list"),
    BadInput("config", "unknown engine", ("engine.name=vlm",), "engine.name='vlm' is unknown"),
    BadInput(
        "config",
        "hub id typed as the model's name (a path)",
        ("model.name=meta-llama/Llama-3.1-8B",),
        "names a results folder: start it with a letter",
    ),
    BadInput(
        "config",
        "prompt + max_tokens over the context window",
        ("sampling.max_tokens=250",),
        "lower sampling.max_tokens or raise model.max_model_len",
    ),
    BadInput(
        "config",
        "tier that is neither free nor paid",
        ("grid.study.vars.tier=[free,gold]",),
        "gold",
        sweep="af_grid",
    ),
    BadInput(
        "config",
        "judge threshold out of range",
        ("judges.af_reasoning.threshold=2",),
        "threshold",
        sweep="af_grid",
    ),
    BadInput(
        "dataset",
        "file that does not exist",
        ("dataset.source=jsonl", "dataset.path={tmp}/nope.jsonl"),
        "does not exist: set dataset.path to a readable file",
    ),
    BadInput(
        "dataset",
        "column mapping that misses",
        ("dataset.source=csv", "dataset.path={tmp}/d.csv"),
        "has no column 'id' (did you mean 'qid'?)",
        setup=_write("d.csv", "qid,question\n1,hello\n"),
    ),
    BadInput(
        "dataset",
        "broken JSON line",
        OWN_JSONL,
        "d.jsonl:2 is not valid JSON",
        setup=_write("d.jsonl", '{"id": "a", "prompt": "hi"}\n{"id": "b", "prompt": \n'),
    ),
    BadInput(
        "dataset",
        "repeated prompt id",
        OWN_JSONL,
        "repeats prompt id 'a'",
        setup=_write("d.jsonl", '{"id": "a", "prompt": "hi"}\n{"id": "a", "prompt": "yo"}\n'),
    ),
    BadInput(
        "dataset",
        "null prompt",
        OWN_JSONL,
        "row 2 (id 'b') has a null prompt: fill it in or remove the row",
        setup=_write("d.jsonl", '{"id": "a", "prompt": "hi"}\n{"id": "b", "prompt": null}\n'),
    ),
    BadInput(
        "dataset",
        "empty file",
        OWN_JSONL,
        "has no rows",
        setup=_write("d.jsonl", ""),
    ),
    BadInput(
        "dataset",
        "a JSON line that is not an object",
        OWN_JSONL,
        "d.jsonl:2 is a JSON list, not an object",
        setup=_write("d.jsonl", '{"id": "a", "prompt": "hi"}\n["b", "yo"]\n'),
    ),
    BadInput(
        "dataset",
        "a prompt that is an object, not text",
        OWN_JSONL,
        "has a prompt that is a dict, not text",
        setup=_write("d.jsonl", '{"id": "a", "prompt": {"text": "hi"}}\n'),
    ),
    BadInput(
        "dataset",
        "a file that is not UTF-8",
        OWN_JSONL,
        "is not valid UTF-8 (byte 26 of the file): save it as UTF-8",
        setup=_write_bytes("d.jsonl", b'{"id": "a", "prompt": "caf\xe9"}\n'),
    ),
    BadInput(
        "dataset",
        "Hugging Face dataset out of reach",
        ("dataset=advbench",),
        "cannot download Hugging Face dataset 'walledai/AdvBench'",
        env={"HF_HUB_OFFLINE": "1"},
        varies=True,
    ),
    BadInput(
        "prompt files",
        "template file that does not exist",
        ("grid.prompt_variant=[af_custom]", "prompt_variant.system_file={tmp}/missing.j2"),
        "no template file",
        sweep="af_grid",
    ),
    BadInput(
        "prompt files",
        "template with a syntax error",
        OWN_SYSTEM,
        "is not a valid Jinja2 template",
        sweep="af_grid",
        setup=_write("s.j2", "You are {{ lab }.\n"),
    ),
    BadInput(
        "prompt files",
        "template using an undefined variable",
        OWN_SYSTEM,
        "'laboratory' is undefined",
        sweep="af_grid",
        setup=_write("s.j2", "You were trained by {{ laboratory }}.\n"),
    ),
    BadInput(
        "environment",
        "OpenAI-compatible judge without its endpoint",
        AF_OPENAI,
        "$OPENAI_BASE_URL",
        sweep="af_grid",
        env={"OPENAI_BASE_URL": None},
    ),
    BadInput(
        "environment",
        "$WANDB_MODE misspelt",
        ("tracker=wandb",),
        "$WANDB_MODE='onlne' is not a W&B mode",
        env={"WANDB_MODE": "onlne"},
    ),
    BadInput(
        "W&B settings",
        "online mode without a login",
        ("tracker=wandb", "tracker.mode=online"),
        "tracker.mode=online needs a W&B login",
        env={"WANDB_API_KEY": None, "NETRC": "/nonexistent/.netrc"},
    ),
    BadInput(
        "W&B settings",
        "project name W&B refuses",
        ("tracker=wandb", "tracker.project=team/af"),
        "tracker.project='team/af' is not a W&B project name",
    ),
    BadInput("W&B settings", "unknown tracker", ("tracker.name=mlflow",), "tracker.name='mlflow'"),
    BadInput(
        "Ray address",
        "no cluster at the address",
        ("ray.address=127.0.0.1:1",),
        "cannot reach a Ray cluster at ray.address='127.0.0.1:1'",
    ),
    BadInput(
        "environment",
        "a setting that reads the environment (a key into W&B)",
        ("sweep.description=${oc.env:MOSWEEP_CANARY}",),
        "sweep.description reads the environment",
        env={"MOSWEEP_CANARY": "sk-canary-do-not-store"},
    ),
    BadInput(
        "output folder",
        "a file where the folder must go",
        ("output_root={tmp}/runs",),
        "cannot write results to",
        setup=_write("runs", "not a folder"),
    ),
    BadInput(
        "output folder",
        "a link inside the sweep folder (kept by tar or rsync)",
        ("output_root={tmp}/runs",),
        "is a symbolic link",
        setup=_linked_report,
    ),
    BadInput(
        "output folder",
        "an object store that cannot be read (nothing at its endpoint, no credentials)",
        ("output_root=s3://bucket/runs",),
        "cannot be read",
        env={"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_REGION": "us-east-1"},
    ),
    BadInput(
        "output folder",
        "a URI of no object store as output_root",
        ("output_root=ftp://host/runs",),
        "ftp:// is no object store mosweep can write to",
    ),
    BadInput(
        "output folder",
        "a relative output_root under `ray job submit --working-dir`",
        ("output_root=runs",),
        "this driver runs in Ray's unpacked copy of --working-dir",
        env={"RAY_JOB_CONFIG_JSON_ENV_VAR": '{"runtime_env": {"working_dir": "/tmp/pkg"}}'},
    ),
    BadInput(
        "output folder",
        "a torn config.yaml in the sweep folder (mode=report)",
        ("output_root={tmp}/runs", "mode=report"),
        "config.yaml cannot be read (ParserError): re-run the sweep's command",
        setup=_torn_config,
    ),
    BadInput(
        "model path",
        "local model folder without weights",
        ("model.source=local", "model.path={tmp}/model"),
        "is not a model folder (no config.json)",
        setup=_folder("model"),
    ),
    BadInput("model path", "unknown model name", ("model=llama-9b",), "llama-9b"),
    BadInput(
        "adapter path",
        "own backdoor data that is not a file",
        ("study.data_path={tmp}/backdoor.jsonl",),
        "study.data_path=",
        sweep="sa_grid",
    ),
    BadInput(
        "adapter path",
        "safety data that shares questions with the backdoor data",
        ("study.safety_data.path=sa_questions.jsonl",),
        "shares 24 questions with the backdoor data",
        sweep="sa_grid",
    ),
    BadInput(
        "training",
        "a fine-tune whose LoRA rank vLLM is not set up to serve",
        ("study.sdf.rank=64",),
        "study.sdf.rank=64 needs engine.max_lora_rank=64",
        sweep="af_sdf",
    ),
    BadInput(
        "training",
        "an RL reward that does not exist",
        ("grid.study.safety=[rl]", "study.safety_rl.reward=helpfulness"),
        "reward='helpfulness' is unknown: use one of",
        sweep="sa_grid",
    ),
    BadInput(
        "training",
        "an RL reward model whose local folder does not exist",
        ("study.rl.reward=model", "study.rl.reward_model=./models/no-such-reward-model"),
        "reward_model='./models/no-such-reward-model' is not a folder",
        sweep="af_rl",
    ),
    BadInput(
        "training",
        "an RL judge reward from a judge served on the engine, not an endpoint",
        ("study.rl.reward=judge", "study.rl.reward_judge=compliance", "judges=af"),
        "study.rl.reward=judge grades rollouts on the training worker",
        sweep="af_rl",
    ),
    BadInput(
        "training",
        "a multi-GPU RL batch the GPUs cannot share (verl's own validation)",
        (
            "study.rl.trainer=verl",
            "study.rl.truncated_factor=1",
            "study.rl.last_layers=0",
            "study.rl.stop=[]",
            "study.rl.generations=2",
            "study.rl.prompts_per_step=1",
        ),
        "verl rejects this RL run: real_train_batch_size (2) must be divisible",
        sweep="af_rl",
    ),
    BadInput(
        "config",
        "a schema key its yaml file leaves out, set without +",
        ("study.probe.limit=4",),
        "add it with +study.probe.limit=",
        sweep="af_sdf",
    ),
    BadInput(
        "config",
        "misspelt key of a judge",
        ("+judges.compliance.votez=3",),
        "unknown config key 'judges.compliance.votez'",
        sweep="af_grid",
    ),
    BadInput(
        "config",
        "a credential given as a config key",
        ("+judges.compliance.api_key=sk-canary-do-not-store",),
        "would put a credential in the config",
        sweep="af_grid",
    ),
    BadInput(
        "config",
        "judge validation of a judge the sweep does not have",
        ("mode=judge_eval", "judge_eval.judge=af_reasoninng"),
        "judge_eval.judge='af_reasoninng' is not one of this sweep's judges",
        sweep="af_grid",
    ),
    BadInput(
        "adapter path",
        "LoRA adapter folder without an adapter",
        ("model.adapter={tmp}/adapter",),
        "is not a LoRA adapter folder (no adapter_config.json)",
        setup=_folder("adapter"),
    ),
]


@contextlib.contextmanager
def environment(changes: dict[str, str | None]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in changes}
    try:
        for key, value in changes.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def attempt(case: BadInput, output_root: Path, tmp: Path) -> tuple[int, str]:
    """Run the case's command line in this process; (exit status, what it printed on stderr)."""
    from orchestrator.__main__ import main

    if case.setup:
        case.setup(tmp)
    args = [f"+sweep={case.sweep}", f"output_root={output_root}"]
    args += [a.replace("{tmp}", str(tmp)) for a in case.args]  # not format: ${...} stays
    err = io.StringIO()
    with (
        environment(case.env),
        contextlib.redirect_stderr(err),
        contextlib.redirect_stdout(io.StringIO()),
    ):
        status = main(args)
    return status, err.getvalue()


def command(case: BadInput) -> str:
    args = " ".join(a.replace("{tmp}/", "") for a in case.args)
    env = " ".join(f"{k}={v}" for k, v in case.env.items() if v is not None)
    unset = " ".join(f"-u {k}" for k, v in case.env.items() if v is None)
    prefix = f"env {unset} {env} ".replace("  ", " ") if case.env else ""
    return f"{prefix}python -m orchestrator +sweep={case.sweep} {args}".strip()


def render(messages: list[str]) -> str:
    lines = [
        "# Bad inputs and the one line each gets",
        "",
        "Every row is a test (`tests/faults/test_bad_inputs.py`, cases in",
        "`tests/faults/catalogue.py`): the command fails with exit status 2 before any job",
        "starts, prints this one line, and leaves every file of the sweep already in the",
        "output folder as it was. Regenerate: `python -m tests.faults.catalogue`.",
        "",
        "| # | area | bad input | command | error |",
        "|---|---|---|---|---|",
    ]
    for n, (case, message) in enumerate(zip(CASES, messages, strict=True), 1):
        cells = [str(n), case.area, case.what, f"`{command(case)}`", message]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


# Ray's own notice when this process first starts a cluster (the tests' process has one
# already): not a line of ours, and it would land in whichever case came first
RAY_NOTICE = re.compile(r"^Token authentication is enabled for this Ray cluster\..*\n", re.M)


def normalise(text: str, *paths: Path) -> str:
    """The error line with scratch folders named as in the docs."""
    text = RAY_NOTICE.sub("", text)
    for path, name in zip(paths, ("<runs>", "<files>"), strict=False):
        text = text.replace(str(path), name)
    return text.replace(str(REPO), ".").strip()


def messages() -> list[str]:
    out = []
    for case in CASES:
        with tempfile.TemporaryDirectory() as scratch:
            root, tmp = Path(scratch) / "runs-root", Path(scratch) / "files"
            tmp.mkdir()
            _, err = attempt(case, root, tmp)
            message = normalise(err, root, tmp)
            out.append(re.sub(r"\(.*?\)", "(...)", message, count=1) if case.varies else message)
    return out


if __name__ == "__main__":
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text(render(messages()))
    print(f"wrote {DOC}")
