"""Deploying a course safely on a shared machine: ``python -m labgrader setup`` makes the exchange,
the course folder (the instructor's, 0700) and the machine-wide config; ``python -m labgrader
doctor`` audits a live deployment (who can read what of the course, the exchange's modes, the
service, due dates, limits); ``python -m labgrader serve`` refuses to start while a student can
read the course (``doctor.refuse_unless_private``). ``deploy/hub-setup.sh`` is the whole recipe.

What must stay private, and why: the course folder as a whole (``source/`` holds the solutions and
hidden tests, ``gradebook.db`` every grade and the hidden tests' source, ``submitted/``,
``autograded/`` and ``feedback/`` every student's work and scores, ``.labgrader/`` the service's
journal and kept hand-ins, ``nbgrader_config.py`` code that runs as the instructor); any clone of
the repository (it holds the same answers); the instructor's group (inbound's entries are readable
by it). Students' servers import the engine from a machine-wide environment where labgrader is
installed as a package: it carries no course.

Modules: ``access`` (who can reach a file: evaluated, or tried as that account), ``doctor`` (the
checks), ``setup`` (the set-up command).
"""
