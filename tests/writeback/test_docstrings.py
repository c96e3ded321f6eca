"""The examples in the write-back docstrings run, and print what they show.

Every example not marked ``+SKIP`` is run by doctest: the operation classes, ``Changes``,
``ApplyOptions``, ``Plan`` and ``ApplyResult`` (against an emulator each example starts),
``plan_frame``/``push``, and the schema rule a String column shows JSON values by.
"""

from __future__ import annotations

import doctest
import importlib
import warnings

import pytest

import cm_frames.schema

MODULES = [
    "cm_frames.writeback.operations",
    "cm_frames.writeback.changes",
    "cm_frames.writeback.options",
    "cm_frames.writeback.plan",
    "cm_frames.writeback.result",
    "cm_frames.writeback.frame",
    "cm_frames.writeback.apply",
    "cm_frames.writeback.diff",
]
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


@pytest.mark.parametrize("name", MODULES)
def test_the_module_s_examples_run(name: str) -> None:
    module = importlib.import_module(name)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        outcome = doctest.testmod(module, optionflags=FLAGS, raise_on_error=False)
    assert outcome.attempted > 0, f"{name} has no examples"
    assert outcome.failed == 0, f"{outcome.failed} example(s) of {name} failed (output above)"


def test_the_schema_rule_for_json_text_runs() -> None:
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    (test,) = finder.find(cm_frames.schema.render_json_text, "render_json_text")
    runner.run(test)
    assert runner.failures == 0
    assert test.examples


def test_the_examples_that_matter_exist() -> None:
    from cm_frames.writeback import frame, operations, plan, result

    for documented in (
        plan.Plan,
        result.ApplyResult,
        frame.plan_frame,
        frame.push,
        *operations.OPERATION_CLASSES,
        operations.Operation,
    ):
        assert ">>> " in (documented.__doc__ or ""), documented
