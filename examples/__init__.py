"""Runnable turnout examples; examples/README.md says what each one shows and how to run it."""
