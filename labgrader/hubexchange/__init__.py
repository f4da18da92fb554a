"""Hand-in as an authenticated upload: an nbgrader exchange over HTTP, served by a JupyterHub
service, for hubs whose students share no file system and no per-student uid with the instructor
(Zero to JupyterHub on Kubernetes: every server a pod, all uid 1000).

- The service (``python -m labgrader.hubexchange serve``; ``service``, ``handlers``, ``store``,
  ``roles``, ``context``): identity only from the hub token (``HubAuth``, scope
  ``access:services!service=<name>``), roles from the hub's groups, the submission's time from the
  server's clock when its last byte arrived, the uploaded bytes stored where no student reaches them
  (0700, the service's uid), hashed and never changed; quotas at the door (413, 429); every refusal
  recorded for the instructor. Each accepted submission goes to the grading service (``intake``).
- The client (``client``): nbgrader's exchange plugins (``c.ExchangeFactory.*``), so ``nbgrader
  release_assignment / fetch_assignment / submit / list / collect / release_feedback /
  fetch_feedback`` and the JupyterLab Assignments tab work unchanged over HTTP
  (``labgrader.hubexchange.client.configure(c, url)``).
- ``archives``: zip archives packed, checked on arrival, extracted safely on every side.
- ``podspawner``: every student's server as one unix uid, each in its own mount and PID namespace
  showing only its own home (bubblewrap): Kubernetes pods, modelled on one machine for the tests.
"""
