"""What the Categorical Embeddings course needs beyond nbgrader: sandboxed and warm grading
kernels, tamper-resistant hidden checks, batch grading, reports. Wired into the plain `nbgrader`
commands by nbgrader_config.py; `python -m labgrader` for the rest."""
