"""Every public name has a numpydoc docstring, and the examples in them run.

The public API is walked, not listed: every name in ``cm_frames.__all__`` and every public
name of every module of the package (its ``__all__``, or the classes and functions it
defines whose names do not start with ``_``), with the public methods and properties those
classes define. ``cm_frames/emulator/*`` (a test fixture with its own conventions) and
``cm_frames/mypy_plugin.py`` (read by mypy, not by a notebook) are left out, except
``Emulator`` itself, which ``cm_frames`` exports.

Each docstring is checked with ``numpydoc.validate`` (the format's own validator) for the
codes in ``CHECKED``. ``EX01`` (an Examples section) is required of every public function
and class of ``cm_frames.__all__`` and of their methods (exception classes excepted: when
they are raised and how to fix them is what a reader needs), and of every public function
and class of the modules in ``EXAMPLES_REQUIRED``.

Every module's examples not marked ``+SKIP`` are then run by doctest; an example that needs
an emulator starts one itself (``with cm.Emulator(...) as emu:``).
"""

from __future__ import annotations

import doctest
import functools
import importlib
import inspect
import pkgutil
import warnings
from collections.abc import Iterator
from dataclasses import is_dataclass
from typing import Any, is_typeddict

import matplotlib
import numpydoc.validate
import pandas as pd
import pytest
from numpydoc.docscrape import NumpyDocString, get_doc_object

import cm_frames
from cm_frames.read.pages import PageDecoder

matplotlib.use("Agg")  # the plotting examples draw off screen
import matplotlib.pyplot as plt

# GL: layout (quotes, blank lines, known sections in order); GL08: no docstring at all.
# SS: a one-line summary that is a sentence and starts with a verb (SS05's heuristic).
# PR: every parameter documented, with a type and a description, none unknown, in order.
# RT/YD: a function that returns or yields something says what, with a description.
# Left out: ES01 (an extended summary for a one-liner such as a property), SA01 (See
# Also), PR08/PR09/RT04/RT05 (capitals and full stops inside descriptions: house style is
# lenient there) and RT02 (named return values are how a tuple's parts are documented).
CHECKED = frozenset(
    {
        *("GL01", "GL02", "GL03", "GL05", "GL06", "GL07", "GL08", "GL10"),
        *("SS01", "SS02", "SS03", "SS04", "SS05", "SS06"),
        *("PR01", "PR02", "PR03", "PR04", "PR07", "PR10"),
        *("RT01", "RT03", "YD01"),
    }
)

EXCLUDED_MODULES = ("cm_frames.emulator", "cm_frames.mypy_plugin")

# Modules every public function and class of which must show an example (EX01); a class's
# example shows its methods at work, so their methods are not asked for one each (those of
# the classes cm_frames exports are). Not listed:
# api.wire (TypedDicts of the API's JSON, whose example is the API reference), and the
# modules of files others own (their examples are theirs to add).
EXAMPLES_REQUIRED = frozenset(
    {
        "cm_frames.accessor",
        "cm_frames.analysis.plotting",
        "cm_frames.analysis.segments",
        "cm_frames.api.cache",
        "cm_frames.api.endpoints",
        "cm_frames.api.http",
        "cm_frames.api.limits",
        "cm_frames.api.paging",
        "cm_frames.api.ratelimit",
        "cm_frames.api.retry",
        "cm_frames.demo",
        "cm_frames.errors",
        "cm_frames.read.columns",
        "cm_frames.read.decoder",
        "cm_frames.read.load",
        "cm_frames.read.pages",
        "cm_frames.read.parquet",
        "cm_frames.read.table",
        "cm_frames.writeback.apply",
        "cm_frames.writeback.changes",
        "cm_frames.writeback.checks",
        "cm_frames.writeback.diff",
        "cm_frames.writeback.frame",
        "cm_frames.writeback.journal",
        "cm_frames.writeback.operations",
        "cm_frames.writeback.options",
        "cm_frames.writeback.plan",
        "cm_frames.writeback.preview",
        "cm_frames.writeback.result",
    }
)

# Docstrings that other work in progress owns and will fill in (the files are being edited
# by others now). Each entry is "object: codes". Remove an entry once it is fixed: the test
# fails on an entry that no longer fails, so the list can only shrink.
PENDING: dict[str, frozenset[str]] = {
    name: frozenset(codes.split(","))
    for name, codes in {
        # "cm_frames.module.Class.method": "EX01,RT03",
    }.items()
}

# Modules whose examples run (not all ``+SKIP``): a guard against an example being skipped
# by accident, or the doctest runner finding none.
RUNNABLE_EXAMPLES = frozenset(
    {
        "cm_frames.accessor",
        "cm_frames.analysis.plotting",
        "cm_frames.analysis.segments",
        "cm_frames.api.cache",
        "cm_frames.api.client",
        "cm_frames.api.endpoints",
        "cm_frames.api.http",
        "cm_frames.api.paging",
        "cm_frames.api.ratelimit",
        "cm_frames.api.retry",
        "cm_frames.errors",
        "cm_frames.read.columns",
        "cm_frames.read.decoder",
        "cm_frames.read.load",
        "cm_frames.read.pages",
        "cm_frames.read.parquet",
        "cm_frames.read.table",
        "cm_frames.schema",
        "cm_frames.writeback.apply",
        "cm_frames.writeback.changes",
        "cm_frames.writeback.checks",
        "cm_frames.writeback.diff",
        "cm_frames.writeback.frame",
        "cm_frames.writeback.journal",
        "cm_frames.writeback.operations",
        "cm_frames.writeback.options",
        "cm_frames.writeback.plan",
        "cm_frames.writeback.preview",
        "cm_frames.writeback.result",
    }
)

# The modules whose examples run on ``df``, the frame the module docstrings describe: six
# customers as read_customers returns them, decoded by the read path from their JSON (no
# server: the examples show the analysis, and fixed data keeps their output fixed).
FRAME_EXAMPLES = frozenset(
    {"cm_frames.accessor", "cm_frames.analysis.plotting", "cm_frames.analysis.segments"}
)


def _customer(
    id_: int, status: str, since: str, tags: list[str], custom: dict[str, Any], country: str
) -> dict[str, Any]:
    return {
        "id": id_,
        "uuid": f"cus_{id_}",
        "external_id": f"x{id_}",
        "email": f"c{id_}@example.com",
        "name": f"Customer {id_}",
        "address": {"country": country},
        "customer-since": since,
        "status": status,
        "attributes": {"tags": tags, "custom": custom, "stripe": {}, "clearbit": {}},
    }


DOC_CUSTOMERS = [
    _customer(1, "Active", "2024-01-15T10:00:00Z", ["vip", "eu"], {"seats": 120, "plan": "pro"}, "DE"),
    _customer(2, "Active", "2024-02-03T09:30:00Z", ["eu"], {"seats": 8, "plan": "basic"}, "FR"),
    _customer(3, "Cancelled", "2024-04-20T16:00:00Z", [], {"seats": 40, "plan": "basic"}, "US"),
    _customer(4, "Lead", "2024-05-02T08:00:00Z", ["vip"], {"plan": "pro"}, "US"),
    _customer(5, "Active", "2024-07-11T12:00:00Z", ["vip", "eu", "beta"], {"seats": 300, "plan": "pro"}, "DE"),
    _customer(6, "Past Due", "2024-08-30T18:45:00Z", ["beta"], {"seats": 15}, "GB"),
]  # fmt: skip


def doc_frame() -> pd.DataFrame:
    """Return the ``df`` of the analysis and accessor examples."""
    decoder = PageDecoder()
    decoder.add_entries(DOC_CUSTOMERS)
    return decoder.finish().to_frame()


FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def package_modules() -> list[str]:
    """Return the names of the package's modules that the checks cover."""
    names = ["cm_frames"]
    for info in pkgutil.walk_packages(cm_frames.__path__, "cm_frames."):
        if not info.name.startswith(EXCLUDED_MODULES):
            names.append(info.name)
    return names


def module_public(module: Any) -> Iterator[Any]:
    """Yield the public classes and functions a module exports or defines."""
    names = getattr(module, "__all__", None)
    if names is None:
        names = [
            name
            for name, value in vars(module).items()
            if not name.startswith("_") and getattr(value, "__module__", None) == module.__name__
        ]
    for name in names:
        value = getattr(module, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            yield value


def public_names() -> dict[str, tuple[Any, bool]]:
    """Return every documented name: dotted path → (object, whether examples are required)."""
    found: dict[str, tuple[Any, bool]] = {}
    exported = {id(value) for value in module_public(cm_frames)}
    for module_name in package_modules():
        for value in module_public(importlib.import_module(module_name)):
            path = f"{value.__module__}.{value.__qualname__}"
            exception = inspect.isclass(value) and issubclass(value, (Exception, Warning))
            in_api = id(value) in exported
            strict = value.__module__ in EXAMPLES_REQUIRED
            found[path] = (value, (in_api or strict) and not exception)
            if not inspect.isclass(value):
                continue
            for name, member in vars(value).items():
                if name.startswith("_"):
                    continue
                if isinstance(member, (staticmethod, classmethod)):
                    member = member.__func__
                if not (
                    inspect.isfunction(member)
                    or isinstance(member, (property, functools.cached_property))
                ):
                    continue
                if member.__doc__ is None and inherits_a_docstring(value, name):
                    continue
                # Methods of the exported classes show an example each; properties are
                # read in their class's example.
                found[f"{path}.{name}"] = (member, in_api and inspect.isfunction(member))
    return found


def inherits_a_docstring(cls: type, name: str) -> bool:
    """Whether ``cls.name`` overrides a method of a base class that has a docstring.

    ``help()`` and a notebook's ``?`` show the base's docstring for an override without one
    (``inspect.getdoc`` looks up the MRO), which is right for a method that keeps the
    contract: ``AddTags.old_new`` is ``Operation.old_new``, done for one kind.
    """
    return any(getattr(vars(base).get(name), "__doc__", None) for base in cls.__mro__[1:])


class Validator(numpydoc.validate.Validator):  # type: ignore[misc]
    """numpydoc's validator of an object, reading a class's fields from Parameters or Attributes.

    An inherited constructor is checked where it is defined. A frozen dataclass returned to
    the user (``StreamSummary``) documents its fields as Attributes, which is what the reader
    of a result wants; numpydoc would ask for them as Parameters because they are the
    constructor's arguments.
    """

    def __init__(self, obj_name: Any) -> None:
        super().__init__(get_doc_object(obj_name))

    @property
    def parameter_mismatches(self) -> list[tuple[str, str]]:
        if not inspect.isclass(self.obj):
            return list(super().parameter_mismatches)
        if "__init__" not in vars(self.obj) and not is_dataclass(self.obj):
            # The constructor is inherited (``NotFound`` is ``APIError``'s): its parameters
            # are documented, and checked, on the class that defines it.
            return []
        # The written Attributes section: numpydoc's ClassDoc fills in one of its own from
        # the class's descriptors (a slotted dataclass's fields), without descriptions.
        written = NumpyDocString(inspect.cleandoc(self.raw_doc))["Attributes"]
        documented = set(self.doc_all_parameters) | {
            name.strip() for item in written for name in item.name.split(",")
        }
        errors = []
        if is_typeddict(self.obj):
            # Its keys are its parameters (``ApplyOptions``); the wire's TypedDicts describe
            # the API's JSON, so their keys may be left to the API reference.
            if unknown := set(self.doc_all_parameters) - set(self.obj.__annotations__):
                errors.append(numpydoc.validate.error("PR02", unknown_params=str(sorted(unknown))))
            return errors
        signature = set(self.signature_parameters)
        if missing := signature - documented:
            errors.append(numpydoc.validate.error("PR01", missing_params=str(sorted(missing))))
        if unknown := set(self.doc_all_parameters) - signature:
            errors.append(numpydoc.validate.error("PR02", unknown_params=str(sorted(unknown))))
        return errors


@functools.cache
def failures() -> dict[str, dict[str, str]]:
    """Return the checked errors of every public name: path → {code: message}."""
    out: dict[str, dict[str, str]] = {}
    for path, (value, needs_examples) in public_names().items():
        codes = CHECKED | {"EX01"} if needs_examples else CHECKED
        with warnings.catch_warnings():
            # numpydoc lists a class's members with getattr, and ipywidgets' deprecated
            # class attributes (PlanPreview is a widget) warn when read.
            warnings.simplefilter("ignore", DeprecationWarning)
            report = numpydoc.validate.validate(value, validator_cls=Validator)
        errors = {code: message for code, message in report["errors"] if code in codes}
        if errors:
            out[path] = errors
    return out


def test_every_public_name_has_a_numpydoc_docstring() -> None:
    unexpected = {
        path: {
            code: message for code, message in errors.items() if code not in PENDING.get(path, ())
        }
        for path, errors in failures().items()
    }
    unexpected = {path: errors for path, errors in unexpected.items() if errors}
    lines = [
        f"{path}: {code} {message}"
        for path, errors in unexpected.items()
        for code, message in errors.items()
    ]
    assert not lines, "docstrings to fix:\n" + "\n".join(lines)


def test_the_pending_list_only_names_what_still_fails() -> None:
    found = failures()
    fixed = [
        f"{path}: {code}"
        for path, codes in PENDING.items()
        for code in sorted(codes)
        if code not in found.get(path, {})
    ]
    assert not fixed, "fixed (remove from PENDING):\n" + "\n".join(fixed)


def test_the_walk_finds_the_public_api() -> None:
    names = public_names()
    for path in (
        "cm_frames.read.load.read_customers",
        "cm_frames.writeback.plan.Plan.apply",
        "cm_frames.read.parquet.StreamSummary",
        "cm_frames.emulator.core.Emulator",
        "cm_frames.accessor.ChartMogulAccessor.plan",
    ):
        assert path in names, path
    assert not any(path.startswith("cm_frames.emulator.state") for path in names)
    assert names["cm_frames.read.load.read_customers"][1], "exported functions need examples"
    assert not names["cm_frames.errors.NotFound"][1], "exception classes need no example"


@pytest.mark.parametrize("name", package_modules())
def test_the_module_s_examples_run(name: str) -> None:
    module = importlib.import_module(name)
    extraglobs = {"df": doc_frame()} if name in FRAME_EXAMPLES else None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        outcome = doctest.testmod(
            module, optionflags=FLAGS, raise_on_error=False, extraglobs=extraglobs
        )
    plt.close("all")
    assert outcome.failed == 0, f"{outcome.failed} example(s) of {name} failed (output above)"
    if name in RUNNABLE_EXAMPLES:
        assert outcome.attempted > 0, f"{name} has no examples that run"


def test_the_examples_that_matter_run() -> None:
    from cm_frames.read import load, parquet
    from cm_frames.writeback import frame, operations, plan, result

    finder = doctest.DocTestFinder(recurse=False)  # the object's own docstring only
    for documented in (
        load.read_customers,
        parquet.ParquetStreamWriter,
        plan.Plan,
        result.ApplyResult,
        frame.plan_frame,
        frame.push,
        *operations.OPERATION_CLASSES,
        operations.Operation,
        operations.group_requests,
    ):
        (test,) = finder.find(documented, documented.__name__, module=False, globs={})
        running = [e for e in test.examples if not e.options.get(doctest.SKIP)]
        assert running, f"{documented.__qualname__} has no example that runs"
