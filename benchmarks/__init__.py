"""Benchmarks comparing glmmix with other software (not part of the installed package).

Run the scripts directly, e.g. ``python benchmarks/lca_stepmix.py``; see README.md.
"""
