"""Work that runs on Ray workers: generation now; fine-tuning and judging plug in beside it.

Nothing here imports the orchestrator: the driver sends plain data (`ShardTask`) and gets
Arrow tables back.
"""
