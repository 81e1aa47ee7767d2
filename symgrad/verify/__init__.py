"""Verification: the independent judges (finite differences, sympy.diff of the expanded cost, PyTorch)."""
