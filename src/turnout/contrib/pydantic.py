"""``turnout.contrib.pydantic``: the counterpart of ``temporalio.contrib.pydantic``.

turnout converts every argument and result with pydantic from the type hints, on every
executor (on Temporal, through temporalio's pydantic data converter), so pydantic models
need no converter of their own. ``pydantic_data_converter`` exists so that
``Client.connect(..., data_converter=pydantic_data_converter)`` runs unchanged.
"""

from __future__ import annotations

__all__ = ["pydantic_data_converter"]


class _PydanticDataConverter:
    """turnout's one data converter: JSON through pydantic, from the type hints."""

    def __repr__(self) -> str:
        return "turnout.contrib.pydantic.pydantic_data_converter"


pydantic_data_converter = _PydanticDataConverter()
"""Pass it as ``data_converter=`` to ``Client.connect``: it names what turnout does anyway."""
