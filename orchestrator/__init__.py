"""mosweep's driver: compose config -> expand grid -> plan shards -> schedule on Ray -> Parquet."""

__version__ = "0.1.0"
