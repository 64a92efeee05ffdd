"""The ``lerax`` command line: train, evaluate, inspect, verify and compare files.

A thin layer over the public API; nothing in lerax imports it. Run ``lerax --help``
or ``python -m lerax --help``.
"""

from ._main import main

__all__ = ["main"]
