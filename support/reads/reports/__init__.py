"""The reports of issue 8: figures for leads over the last thirty days.

- ``rollup``: daily rollups the worker keeps (why rollups: see its docstring);
- ``figures``: what the page reads, in a fixed number of statements;
- ``histogram``: percentiles in bounded memory on either database;
- ``tables``: each figure as rows, shared by the page's tables and the CSV exports.
"""

from support.reads.reports.figures import Report, load
from support.reads.reports.rollup import refresh

__all__ = ["Report", "load", "refresh"]
