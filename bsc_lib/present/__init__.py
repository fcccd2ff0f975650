"""Presentation: labels, plots, notebook helpers, the HTML report, exports, feedback letters, the
dashboard.
"""
