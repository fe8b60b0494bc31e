"""Reads the Parquet results only (declared columns): summaries, metrics, plots, reports."""
