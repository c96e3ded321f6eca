"""The apply options, defined once: ``Plan.apply``, ``apply_plan``, ``ApplyResult.undo`` and
``push`` take them as keyword arguments (``**options: Unpack[ApplyOptions]``), and ``push``
checks its keywords against the same names.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any, Final, TypeAlias, TypedDict

__all__ = ["APPLY_DEFAULTS", "APPLY_OPTION_NAMES", "ApplyOptions", "ProgressCallback", "resolve"]

ProgressCallback: TypeAlias = Callable[[int, int], None]
"""Called in the applying thread as ``callback(operations_done, operations_total)``."""


class ApplyOptions(TypedDict, total=False):
    """The keyword options of an apply (every one optional; defaults in ``APPLY_DEFAULTS``).

    Parameters
    ----------
    journal : str or os.PathLike, optional
        The journal file (default: ``client.cache_dir/journals/<plan id>.jsonl``); applying
        the same plan with the same journal resumes and resends nothing done.
    check_conflicts : bool, default True
        Compare each operation's old value with the server's first, and send nothing that
        would overwrite a later change. The customers' identity (the uuid each id names) is
        checked either way.
    max_workers : int, optional
        Customers written concurrently (default ``client.max_workers``, at most 20).
    progress : bool or callable, default True
        A tqdm bar (True), none (False), or ``callback(done, total)``.

    Examples
    --------
    >>> resolve({"check_conflicts": False})["check_conflicts"]
    False
    >>> resolve({})["progress"]
    True
    """

    journal: str | os.PathLike[str] | None
    check_conflicts: bool
    max_workers: int | None
    progress: bool | ProgressCallback


#: Every option's default.
APPLY_DEFAULTS: Final[ApplyOptions] = {
    "journal": None,
    "check_conflicts": True,
    "max_workers": None,
    "progress": True,
}

#: The option names, in the order the documentation lists them.
APPLY_OPTION_NAMES: Final[tuple[str, ...]] = tuple(ApplyOptions.__annotations__)
assert set(APPLY_OPTION_NAMES) == set(APPLY_DEFAULTS)


def resolve(options: Mapping[str, Any], *, caller: str = "apply") -> ApplyOptions:
    """``options`` with every default filled in; an unknown name is a TypeError.

    Parameters
    ----------
    options : mapping
        Keyword options as a caller received them.
    caller : str
        How the error names the function, e.g. ``"Plan.apply"``.

    Returns
    -------
    ApplyOptions
        Every option, given or default.

    Raises
    ------
    TypeError
        An option that is not one of ``APPLY_OPTION_NAMES`` (as Python says of an unknown
        keyword argument).

    Examples
    --------
    >>> resolve({"max_workers": 4})["max_workers"]
    4
    >>> resolve({"retries": 3}, caller="Plan.apply")
    Traceback (most recent call last):
    ...
    TypeError: Plan.apply() got an unexpected keyword argument 'retries'
    """
    unknown = [name for name in options if name not in APPLY_DEFAULTS]
    if unknown:
        raise TypeError(f"{caller}() got an unexpected keyword argument {unknown[0]!r}")
    resolved: ApplyOptions = {**APPLY_DEFAULTS, **options}  # type: ignore[typeddict-item]
    return resolved
