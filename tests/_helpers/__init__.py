"""Helpers shared by test folders that are not fixtures (those are in ``tests/conftest.py``):
``scripted`` (a scripted list/watch source, no server), ``kopf_runner`` (undoing what
``kopf run`` does to logging in this process), ``charts`` (where the charts and helm are)."""
