"""nbgrader settings for students, released beside the notebook (nothing here is used for grading).

Read by `nbgrader validate embeddings.ipynb` typed in this folder, and by JupyterLab's Validate
button when `jupyter lab` was started in this folder.
"""
c = get_config()  # noqa: F821

# nbgrader cuts every line of a failing test at 90 characters by default, which hides the end of
# the tests' one-sentence messages: show them whole.
c.Validator.width = 250

# Once every cell has run, stop the kernel at once: a graceful shutdown waits about a second of
# CPU for TensorFlow's teardown, and validation has nothing left to keep.
c.Execute.shutdown_kernel = "immediate"
