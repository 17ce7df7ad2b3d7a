"""``turnout.activity``: the counterpart of ``temporalio.activity`` (the decorator and the
functions activity code calls). ``from turnout import activity`` and
``from turnout.activity import heartbeat`` both reach it; the code lives in
:mod:`turnout.workflows.activity`."""

from turnout.workflows.activity import *  # noqa: F403
from turnout.workflows.activity import __all__ as __all__
