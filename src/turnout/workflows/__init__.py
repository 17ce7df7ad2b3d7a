"""The authoring API: ``workflow`` and ``activity`` (one facade for every executor)."""

from turnout.workflows import activity, workflow
from turnout.workflows._definitions import ActivityDefinition, WorkflowDefinition

__all__ = ["ActivityDefinition", "WorkflowDefinition", "activity", "workflow"]
