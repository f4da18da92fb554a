"""Jupyter server extensions of the grader (enabled by jupyter-config/, installed by ./course)."""
