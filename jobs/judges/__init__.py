"""Judges: parsing, the rule-based pass, and LLM judges (prompt variables + vote parsing)."""
