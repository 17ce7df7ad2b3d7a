"""``turnout.contrib``: the counterparts of ``temporalio.contrib`` modules turnout offers."""
