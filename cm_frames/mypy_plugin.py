"""A mypy plugin that types ``df.chartmogul`` as :class:`~cm_frames.accessor.ChartMogulAccessor`.

pandas-stubs type every attribute a DataFrame does not declare through its ``__getattr__``,
as a Series (a column by attribute access), so a registered accessor reads as a Series to a
type checker. With this plugin mypy reads ``df.chartmogul`` as the accessor it is, with no
``cast`` and no helper call. Enable it in the project that uses cm_frames::

    [tool.mypy]
    plugins = ["cm_frames.mypy_plugin"]

It needs mypy only (imported by mypy, never by cm_frames itself). Other type checkers see a
Series; there, ``ChartMogulAccessor(df)`` is the typed spelling.
"""

from __future__ import annotations

from collections.abc import Callable

from mypy.checker import TypeChecker
from mypy.nodes import TypeInfo
from mypy.plugin import AttributeContext, Plugin
from mypy.types import Instance, Type

__all__ = ["plugin"]

_ATTRIBUTE = "pandas.core.frame.DataFrame.chartmogul"
_MODULE, _CLASS = "cm_frames.accessor", "ChartMogulAccessor"


def _accessor_type(ctx: AttributeContext) -> Type:
    """The accessor's type when mypy has loaded ``cm_frames.accessor``, else what it had."""
    if isinstance(ctx.api, TypeChecker):
        module = ctx.api.modules.get(_MODULE)
        symbol = module.names.get(_CLASS) if module is not None else None
        if symbol is not None and isinstance(symbol.node, TypeInfo):
            return Instance(symbol.node, [])
    return ctx.default_attr_type


class ChartMogulPlugin(Plugin):
    """Types the ``chartmogul`` attribute of a DataFrame (and of its subclasses' instances).

    Examples
    --------
    In ``pyproject.toml``: ``[tool.mypy] plugins = ["cm_frames.mypy_plugin"]``; then
    ``reveal_type(df.chartmogul)`` shows ``cm_frames.accessor.ChartMogulAccessor``.
    """

    def get_attribute_hook(self, fullname: str) -> Callable[[AttributeContext], Type] | None:
        """The hook for ``DataFrame.chartmogul``; None (mypy's own rule) for anything else.

        Parameters
        ----------
        fullname : str
            The attribute's full name, e.g. ``pandas.core.frame.DataFrame.chartmogul``.

        Returns
        -------
        callable or None
            The function that gives the attribute's type, or None.
        """
        return _accessor_type if fullname == _ATTRIBUTE else None


def plugin(version: str) -> type[Plugin]:
    """mypy's entry point: the plugin class for any mypy ``version``.

    Parameters
    ----------
    version : str
        The running mypy's version.

    Returns
    -------
    type
        :class:`ChartMogulPlugin`.
    """
    return ChartMogulPlugin
