"""Edits to plan to requests to journal to result: diff, operations, plan, apply, preview."""
