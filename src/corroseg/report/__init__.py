"""Plots and reports (matplotlib)."""
