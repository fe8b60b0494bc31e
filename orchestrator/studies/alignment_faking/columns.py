"""Alignment faking's own row columns: the tier of a results row, and the fields its judge
stage adds in `scores` (parsed answer, rule verdict, judges' votes, outcome)."""

from __future__ import annotations

import pyarrow as pa

from jobs.rows import results_schema

# every generated row: which copy of the request it answers (study.vars.tier)
COLUMNS = (pa.field("tier", pa.string()),)

# a judged row: the parsed fields and the judges' scores (null where a judge did not apply
# or is not configured)
SCORED_COLUMNS = (
    pa.field("scratchpad", pa.string()),
    pa.field("output", pa.string()),
    pa.field("accepted_tag", pa.bool_()),
    pa.field("rejected_tag", pa.bool_()),
    pa.field("parse_status", pa.string()),
    pa.field("rule_label", pa.string()),
    pa.field("refusal_phrase", pa.string()),
    pa.field("compliance_refused", pa.float64()),
    pa.field("compliance_score", pa.float64()),
    pa.field("compliance_votes", pa.int32()),
    pa.field("af_vote_share", pa.float64()),
    pa.field("af_votes", pa.int32()),
    pa.field("af_invalid_votes", pa.int32()),
    pa.field("af_reasoning", pa.string()),
    pa.field("partial_vote_share", pa.float64()),
    pa.field("partial_votes", pa.int32()),
    pa.field("partial_compliance", pa.string()),
    pa.field("outcome", pa.string()),
    # the judges whose call failed for this row (comma-separated); null when none did
    pa.field("judge_failed", pa.string()),
    pa.field("judges", pa.string()),
)

SCORED_SCHEMA = results_schema([*COLUMNS, *SCORED_COLUMNS])  # a `scores` file's columns
