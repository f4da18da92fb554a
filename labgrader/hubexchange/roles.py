"""Who is an instructor or a student of the course: the members of two JupyterHub groups, read with
the service's own token (``read:groups!group=<name>`` for each: see the hub recipe's
``load_roles``), cached for a few seconds so a change on the hub takes effect promptly.

nbgrader's own convention names them ``formgrade-<course>`` (graders) and ``nbgrader-<course>``
(students). A name in both groups is refused: the hub's administrator must say which it is. A hub
that cannot be asked makes every request fail (503), never succeed.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass

from tornado.httpclient import AsyncHTTPClient, HTTPClientError
from tornado.web import HTTPError

INSTRUCTOR, STUDENT = "instructor", "student"


@dataclass
class Groups:
    hub_api: str           # the hub's API URL, e.g. http://127.0.0.1:8081/hub/api
    token: str             # the service's own API token
    students: str          # group names
    instructors: str
    ttl: float = 10.0

    def __post_init__(self) -> None:
        self._cache: dict[str, tuple[float, frozenset[str]]] = {}

    async def role_of(self, name: str) -> str | None:
        """INSTRUCTOR, STUDENT or None (not in the course); HTTPError 403 for a name in both groups."""
        instructors, students = await self.members(self.instructors), await self.members(self.students)
        if name in instructors and name in students:
            raise HTTPError(403, reason="in both groups", log_message=f"{name} is in both {self.instructors} and "
                            f"{self.students}: the hub's administrator must remove them from one")
        return INSTRUCTOR if name in instructors else STUDENT if name in students else None

    async def members(self, group: str) -> frozenset[str]:
        now = time.monotonic()
        cached = self._cache.get(group)
        if cached and now - cached[0] < self.ttl:
            return cached[1]
        try:
            response = await AsyncHTTPClient().fetch(f"{self.hub_api.rstrip('/')}/groups/{group}",
                                                     headers={"Authorization": f"token {self.token}"},
                                                     request_timeout=10)
            users = frozenset(json.loads(response.body).get("users", []))
        except HTTPClientError as exc:
            if exc.code != 404:
                raise HTTPError(503, log_message=f"the hub refused to list group {group} ({exc.code}): give the "
                                f"service the scope read:groups!group={group} (load_roles)") from None
            users = frozenset()  # no such group yet: nobody in it
        except OSError as exc:
            raise HTTPError(503, log_message=f"the hub cannot be reached to read group {group}: {exc}") from None
        self._cache[group] = (now, users)
        return users
