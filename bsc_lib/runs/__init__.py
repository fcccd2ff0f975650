"""Running the report: the pipeline (notebooks → run folder) and its executors.
"""
