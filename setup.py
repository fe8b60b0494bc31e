"""What the wheel holds (pyproject.toml has the rest): the packages, and the top-level conf/
shipped inside `orchestrator` as `orchestrator/conf`, so that an installed `mosweep` finds its
configs and templates from any folder. (pyproject's `packages.find` cannot map a folder
outside the packages into one.)"""

from setuptools import find_packages, setup

setup(
    packages=[
        *find_packages(include=["orchestrator*", "jobs*", "analysis*", "mosweep*"]),
        "orchestrator.conf",
    ],
    package_dir={"orchestrator.conf": "conf"},
    package_data={
        "orchestrator": ["data/*.jsonl"],
        "orchestrator.conf": ["**/*.yaml", "**/*.j2"],
    },
)
