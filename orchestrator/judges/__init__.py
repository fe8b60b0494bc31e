"""The judge stage's machinery, shared by every study that judges its rows: configured judges
(spec.py), where their prompts get answered (backends.py), the answer cache (cache.py) and
judge validation against labelled items (evaluate.py, `mode=judge_eval`)."""
