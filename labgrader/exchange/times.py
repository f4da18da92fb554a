"""Times the exchange writes and reads, always in UTC.

nbgrader's ``parse_utc`` reads ``2026-07-01 12:00:00 +0200`` as 200 *seconds* east of UTC and
``... CEST`` (any zone abbreviation ``dateutil`` does not know) as UTC, so a submission stamped with
``nbgrader submit --timezone=Etc/GMT+12`` (``%Z`` = ``-12``) or a due date typed with a numeric
offset lands hours away from the truth. Our code therefore writes one unambiguous form
(``YYYY-MM-DD HH:MM:SS.ffffff UTC``, which ``parse_utc`` reads correctly) and reads times only
through ``parse_time``, which accepts IANA zone names, UTC/GMT/Z and numeric offsets, and refuses
abbreviations, which are ambiguous (``IST``, ``CST``) or unknown to dateutil.
"""
import datetime as _dt
import re
import sys
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from labgrader.errors import LabgraderError

UTC = _dt.timezone.utc
_OFFSET = re.compile(r"^(?:UTC|GMT)?([+-])(\d{2}):?(\d{2})$")
_UTC_NAMES = {"UTC", "GMT", "Z", "Etc/UTC", "Etc/GMT", "Zulu"}
_DATE_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2})[ T](\d{1,2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)\s*(.*)$")


class AmbiguousTime(LabgraderError, ValueError):
    """A time we will not guess at; the message says how to write it."""


HOW = "write the time zone as an IANA name (Europe/Berlin) or UTC, e.g. '2026-12-01 17:00:00 Europe/Berlin'"


def _zone(text):
    if text in _UTC_NAMES:
        return UTC
    offset = _OFFSET.match(text)
    if offset:
        sign, hours, minutes = offset.groups()
        delta = _dt.timedelta(hours=int(hours), minutes=int(minutes))
        return _dt.timezone(delta if sign == "+" else -delta)
    if "/" in text:
        try:
            return ZoneInfo(text)
        except (ZoneInfoNotFoundError, ValueError):
            raise AmbiguousTime(f"unknown time zone {text!r}: {HOW}") from None
    raise AmbiguousTime(f"time zone {text!r} is an abbreviation or not a zone: {HOW}")


def parse_time(text: str, default_zone: str | None = None) -> _dt.datetime:
    """``text`` ("YYYY-MM-DD HH:MM[:SS[.ffffff]] ZONE") as an aware datetime in UTC.

    ZONE is an IANA name, UTC/GMT/Z, or a numeric offset (``+02:00``, ``+0200``); without one,
    ``default_zone`` (an IANA name) is used, else the time is refused."""
    match = _DATE_TIME.match(text.strip())
    if not match:
        raise AmbiguousTime(f"not a date and time: {text!r}: {HOW}")
    date, clock, zone = match.groups()
    zone = zone.strip() or default_zone
    if not zone:
        raise AmbiguousTime(f"no time zone in {text!r}: {HOW}")
    naive = _dt.datetime.fromisoformat(f"{date} {clock}")
    return naive.replace(tzinfo=_zone(zone)).astimezone(UTC)


def format_timestamp(moment: _dt.datetime) -> str:
    """What ``timestamp.txt`` holds: the moment in UTC, in a form nbgrader's parse_utc reads right."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f UTC")


def from_epoch(seconds: float) -> _dt.datetime:
    return _dt.datetime.fromtimestamp(seconds, UTC)


def naive_utc(moment: _dt.datetime) -> _dt.datetime:
    """nbgrader's gradebook stores naive UTC datetimes."""
    return moment.astimezone(UTC).replace(tzinfo=None)


def duedate_problem(argv: list[str]) -> str:
    """Why ``nbgrader db assignment add ... --duedate=...`` in ``argv`` would store a wrong due date
    (nbgrader's parse_utc misreads numeric offsets and abbreviations), or "" when it is safe."""
    values = []
    for i, arg in enumerate(argv):
        if arg.startswith("--duedate="):
            values.append(arg.split("=", 1)[1])
        elif arg == "--duedate" and i + 1 < len(argv):
            values.append(argv[i + 1])
    for value in values:
        parts = value.split(" ")
        zone = parts[2] if len(parts) == 3 else ""
        if len(parts) != 3 or zone in _UTC_NAMES or "/" in zone:
            try:  # what nbgrader would store must be what we read
                parse_time(value, default_zone="UTC")
            except AmbiguousTime as exc:
                return f"due date {value!r}: {exc}"
            continue
        return (f"due date {value!r}: nbgrader reads the zone {zone!r} wrongly (a numeric offset as seconds, "
                f"an abbreviation as UTC): {HOW}")
    return ""


def ambiguous_duedate(argv: list[str] | None = None) -> str:
    """For nbgrader_config.py: why ``nbgrader db assignment add --duedate ...`` (``argv``, the
    command being configured) would store a due date nbgrader misreads, or "" (nbgrader only logs
    an exception raised while its config loads, so the config file itself stops the command)."""
    argv = sys.argv if argv is None else argv
    if "db" not in argv[1:3] or "add" not in argv:
        return ""
    return duedate_problem(argv)
