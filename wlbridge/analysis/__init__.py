"""Analyses: read a Net, return mathematics of their own (linear regions of piecewise-linear nets)."""
