"""What is evaluated and where: the scheme (YAML), analysis settings, repository paths.
"""
