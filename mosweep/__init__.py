"""mosweep's Python API: read a sweep's results without the command line.

    import mosweep
    rows = mosweep.load("runs/af_grid")   # a pyarrow Table: .to_pandas(), polars.from_arrow

See analysis/results.py for what the rows are.
"""

from analysis.results import load

__all__ = ["load"]
