"""Helpers shared by test folders that are not fixtures (those are in ``tests/conftest.py``):
``scripted`` (a scripted list/watch source, no server), ``clocks`` (a fake clock),
``controllers`` (running a Controller as its Kopf integration does), ``charts`` (where the
charts and helm are). Running
Kopf in this process is the harness's: ``kopf_informers.testing.isolated_kopf``."""
