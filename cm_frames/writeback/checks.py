"""Operations checked against the wire rules, and against each other, before a plan exists.

``Plan(...)`` (so ``Plan.from_json``, undo plans and hand-built plans) runs ``check_operations``:
each operation's tag, key and values meet ``cm_frames.validation`` (the rules a diffed frame
and the client meet too), and per customer there is one operation per tag and per key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import cast

from cm_frames.errors import ValidationError
from cm_frames.validation import Rule, key_problem, tag_problem, value_problem
from cm_frames.writeback.operations import (
    KINDS,
    AddCustom,
    AddTags,
    Operation,
    RemoveCustom,
    RemoveTags,
    UpdateCustom,
)

__all__ = [
    "check_dialect_precision",
    "check_operations",
    "operation_problems",
    "precision_error",
]

_OPERATION_CLASSES = (AddTags, RemoveTags, AddCustom, UpdateCustom, RemoveCustom)
# Tuples, not ``AddTags | RemoveTags``: a union object is built anew at every isinstance call,
# which made the check of 600k operations three times slower than building the plan.
_TAG_OPERATIONS = (AddTags, RemoveTags)
_CUSTOM_OPERATIONS = (AddCustom, UpdateCustom, RemoveCustom)
_VALUE_OPERATIONS = (AddCustom, UpdateCustom)


def _values(op: Operation) -> list[tuple[str, object]]:
    # Each class names its value fields (as its record does).
    return [(field, getattr(op, field)) for field in op.value_fields]


def operation_problems(operations: Sequence[object]) -> list[str]:
    """List every broken rule among ``operations``, one line each: where, what and the fix.

    One pass over the operations; names are checked once per distinct name (a plan of 100k
    customers has a few dozen), values per operation. Messages are built only for problems:
    ``Plan(ops)`` runs this on every undo and plan file, hundreds of thousands of operations.

    Parameters
    ----------
    operations : sequence
        The operations of a plan (anything else is a problem too).

    Returns
    -------
    list of str
        One line per problem (empty when there is none).

    Examples
    --------
    >>> from cm_frames.writeback.operations import AddTags
    >>> operation_problems([AddTags(1, "cus_1", None, "vip")])
    []
    >>> operation_problems([AddTags(1, "cus_1", None, "vip"), "vip"])
    ['operations[1]: expected AddTags, ..., got str. Fix: build plans from these operations only']
    """
    problems: list[str] = []
    names: dict[tuple[bool, str], Rule | None] = {}
    identities: dict[int, tuple[str, str | None]] = {}
    seen: set[tuple[int, bool, str]] = set()
    repeated: set[tuple[int, bool, str]] = set()

    def where(i: int, op: Operation) -> str:
        return f"operations[{i}] (customer {op.customer_id}, {op.attribute})"

    for i, op in enumerate(operations):
        if not isinstance(op, _OPERATION_CLASSES):
            problems.append(
                f"operations[{i}]: expected AddTags, RemoveTags, AddCustom, UpdateCustom "
                f"or RemoveCustom, got {type(op).__name__}. Fix: build plans from these "
                "operations only"
            )
            continue
        customer_id = op.customer_id
        if not isinstance(customer_id, int) or isinstance(customer_id, bool):
            problems.append(
                f"operations[{i}]: customer_id must be an int, got {customer_id!r}. "
                "Fix: use the customer's ChartMogul id"
            )
            continue
        first = identities.setdefault(customer_id, (op.uuid, op.email))
        if first != (op.uuid, op.email):
            problems.append(
                f"operations[{i}]: customer {customer_id} appears with uuid/email "
                f"{op.uuid!r}/{op.email!r} but earlier with {first[0]!r}/{first[1]!r}; "
                "one customer must have one uuid and email throughout a plan. Fix: give "
                "every operation of a customer the uuid and email it has in ChartMogul"
            )
        is_tag = isinstance(op, _TAG_OPERATIONS)
        name = op.tag if isinstance(op, _TAG_OPERATIONS) else op.key
        cache = (is_tag, name)
        if cache not in names:
            names[cache] = tag_problem(name) if is_tag else key_problem(name)
        rule = names[cache]
        if rule is not None:
            problems.append(f"{where(i, op)}: {rule.what}. Fix: {rule.fix}")
        if isinstance(op, _CUSTOM_OPERATIONS):
            type_ = op.type
            for field, value in _values(op):
                rule = value_problem(type_, value)
                if rule is not None:
                    label = "" if field == "value" else f" (its {field} value)"
                    problems.append(f"{where(i, op)}{label}: {rule.what}. Fix: {rule.fix}")
                    break
        touch = (customer_id, is_tag, name)
        if touch in seen:
            repeated.add(touch)
        else:
            seen.add(touch)
    if repeated:
        # Rare: a second pass gathers the operations of each repeated (customer, attribute).
        touches: dict[tuple[int, bool, str], list[int]] = {}
        for i, op in enumerate(operations):
            if isinstance(op, _OPERATION_CLASSES):
                name = op.tag if isinstance(op, _TAG_OPERATIONS) else op.key
                touch = (op.customer_id, isinstance(op, _TAG_OPERATIONS), name)
                if touch in repeated:
                    touches.setdefault(touch, []).append(i)
        for (customer_id, _, _), indices in touches.items():
            attribute = cast(Operation, operations[indices[0]]).attribute
            problems.append(_contradiction(customer_id, attribute, indices, operations))
    return problems


def _contradiction(
    customer_id: int, attribute: str, indices: list[int], operations: Sequence[object]
) -> str:
    ops = [operations[i] for i in indices]
    where = (
        f"operations[{indices[0]}], "
        + ", ".join(f"[{i}]" for i in indices[1:])
        + f" (customer {customer_id}, {attribute})"
    )
    kinds = sorted({type(op).__name__ for op in ops}, key=KINDS.index)
    if all(op == ops[0] for op in ops):
        what = (
            "the same operation twice" if len(ops) == 2 else f"the same operation {len(ops)} times"
        )
        fix = "keep one of them"
    elif attribute.startswith("tag.") and kinds == ["AddTags", "RemoveTags"]:
        what = "AddTags and RemoveTags of the same tag contradict each other"
        fix = "keep one of them: the tag is either added or removed"
    else:
        what = (
            f"{len(ops)} operations on one key of one customer ({', '.join(kinds)}) "
            "contradict each other"
        )
        fix = "keep one operation per key and customer"
    return f"{where}: {what}. Fix: {fix}"


def check_operations(operations: Sequence[object]) -> None:
    """Raise one ``ValidationError`` listing every broken rule among ``operations``.

    Parameters
    ----------
    operations : sequence
        The operations of a plan.

    Raises
    ------
    ValidationError
        When ``operation_problems`` finds any, listing them all.

    Examples
    --------
    >>> from cm_frames.writeback.operations import AddTags
    >>> check_operations([AddTags(1, "cus_1", None, "vip")])
    >>> check_operations([AddTags(1, "cus_1", None, "x" * 256)])
    Traceback (most recent call last):
    ...
    cm_frames.errors.ValidationError: 1 problem in the plan; nothing was planned:
    - operations[0] (customer 1, tag.x...x): the tag name has 256 characters; ...
    """
    problems = operation_problems(operations)
    if problems:
        n = len(problems)
        head = f"{n} problem{'' if n == 1 else 's'} in the plan; nothing was planned"
        raise ValidationError(head + ":\n- " + "\n- ".join(problems))


def check_dialect_precision(operations: Sequence[Operation], dialect: str | None) -> None:
    """Refuse Timestamp values finer than today's API keeps, before anything is sent.

    Today's API stores Timestamps to the millisecond (it echoes ``.123Z`` for ``.123456``):
    a finer value would land rounded, so the server would never hold what the frame shows
    and every later plan would want to write it again. The reference's API keeps
    microseconds, so its plans pass as they are.

    Parameters
    ----------
    operations : sequence of Operation
        The operations about to be planned or sent.
    dialect : {"current", "enrichment"} or None
        The API they are for (None: not known, nothing to check).

    Raises
    ------
    ValidationError
        Some value has sub-millisecond digits in today's dialect: names the columns and
        customers, and the fix (round the column to milliseconds).

    Examples
    --------
    >>> from datetime import datetime, timezone
    >>> from cm_frames.writeback.operations import AddCustom
    >>> when = datetime(2024, 1, 31, 12, 0, 0, 123456, tzinfo=timezone.utc)
    >>> ops = [AddCustom(1, "cus_1", None, "seen", "Timestamp", when)]
    >>> check_dialect_precision(ops, "enrichment")
    >>> check_dialect_precision(ops, "current")
    Traceback (most recent call last):
    ...
    cm_frames.errors.ValidationError: custom.seen has values finer than a millisecond ...
    """
    if dialect != "current":
        return
    finer: dict[str, list[object]] = {}
    for op in operations:
        if not isinstance(op, _VALUE_OPERATIONS) or op.type != "Timestamp":
            continue
        value = op.value if isinstance(op, AddCustom) else op.new
        if isinstance(value, datetime) and value.microsecond % 1000:
            finer.setdefault(op.attribute, []).append(op.customer_id)
    if finer:
        raise precision_error(finer)


def precision_error(finer: Mapping[str, Sequence[object]]) -> ValidationError:
    """The error for Timestamp values finer than today's API keeps (see above).

    Parameters
    ----------
    finer : mapping of str to sequence
        Column -> the customer ids whose value there has sub-millisecond digits.

    Returns
    -------
    ValidationError
        Naming each column, its first customers and the fix.

    Examples
    --------
    >>> print(precision_error({"custom.seen": [7]}))
    custom.seen has values finer than a millisecond (customers 7), ...
    """
    lines = []
    for column, customers in finer.items():
        shown = ", ".join(str(c) for c in customers[:5])
        more = f" and {len(customers) - 5:,} more" if len(customers) > 5 else ""
        lines.append(
            f"{column} has values finer than a millisecond (customers {shown}{more}), which "
            "today's ChartMogul API would round: nothing was sent. Fix: "
            f"edited[{column!r}] = edited[{column!r}].dt.floor('ms'), then plan again"
        )
    return ValidationError("\n".join(lines))
