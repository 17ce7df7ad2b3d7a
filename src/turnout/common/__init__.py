"""``turnout.common``: the counterpart of ``temporalio.common``.

``from temporalio.common import RetryPolicy`` becomes ``from turnout.common import
RetryPolicy``, with the same fields and defaults. The id policies keep Temporal's names
(``WorkflowIDReusePolicy.REJECT_DUPLICATE``, ``WorkflowIDConflictPolicy.USE_EXISTING``);
they are turnout's :class:`~turnout.IdReusePolicy` and :class:`~turnout.IdConflictPolicy`.
``RawValue`` is what dynamic workflows, handlers and activities are given (on Temporal,
temporalio's own RawValue arrives instead; convert either with
``workflow.payload_converter()``). Search attributes are typed by their keys
(``SearchAttributeKey.for_keyword("CustomerId")``) and given as ``TypedSearchAttributes``.
docs/compatibility.md lists what this module leaves out, and why.
"""

from turnout.contracts.payloads import RawValue
from turnout.contracts.records import IdConflictPolicy, IdReusePolicy
from turnout.contracts.retry import RetryPolicy
from turnout.contracts.search_attributes import (
    SearchAttributeIndexedValueType,
    SearchAttributeKey,
    SearchAttributePair,
    SearchAttributes,
    SearchAttributeUpdate,
    SearchAttributeValues,
    TypedSearchAttributes,
)

WorkflowIDReusePolicy = IdReusePolicy
"""May a new run take a workflow id whose previous run is closed? (``IdReusePolicy``)"""

WorkflowIDConflictPolicy = IdConflictPolicy
"""What a start does while a run of the workflow id is open. (``IdConflictPolicy``)"""

__all__ = [
    "RawValue",
    "RetryPolicy",
    "SearchAttributeIndexedValueType",
    "SearchAttributeKey",
    "SearchAttributePair",
    "SearchAttributeUpdate",
    "SearchAttributeValues",
    "SearchAttributes",
    "TypedSearchAttributes",
    "WorkflowIDConflictPolicy",
    "WorkflowIDReusePolicy",
]
