"""Benchmarks of bsc-workbench: speed and scale, side by side with the naive way.

``python bench/run.py`` (or ``make bench``) runs every figure and writes ``bench/RESULTS.md``
and ``bench/results.json``; see :mod:`bench.run`. Each measurement runs in its own
subprocess (:mod:`bench.measure`) so that memory peaks of different measurements never mix.
"""
