"""Analyses of scores and data: difficulty, dispersion, reliability, robustness, alignment, cycle,
what-if, scenarios, statistics, and the result-table recipes.
"""
