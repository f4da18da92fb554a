"""nbgrader settings for students, released beside the notebook.

`nbgrader validate embeddings.ipynb`, run in this folder, cuts every line of a failing test at
90 characters by default, which hides the end of the tests' one-sentence messages: show them whole.
(JupyterLab's Validate button shows them whole anyway.) Nothing here is used for grading.
"""
c = get_config()  # noqa: F821

c.Validator.width = 250
