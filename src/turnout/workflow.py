"""``turnout.workflow``: the counterpart of ``temporalio.workflow`` (decorators and the
functions workflow code calls). ``from turnout import workflow`` and
``from turnout.workflow import ParentClosePolicy`` both reach it; the code lives in
:mod:`turnout.workflows.workflow`."""

from turnout.workflows.workflow import *  # noqa: F403
from turnout.workflows.workflow import __all__ as __all__
