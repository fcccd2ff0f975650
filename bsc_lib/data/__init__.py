"""The input: canonical data model, reading and writing files (``io``), validation rules,
header/value aliases, the synthetic sample, descriptive counts.
"""
