"""The grader's side of the hidden tests: observations from the kernel are data, judged here.

``protocol`` validates what a kernel reported, ``lab`` loads an assignment's own grading module,
``reference`` runs the instructor's notebook once to get trusted expectations.
"""
