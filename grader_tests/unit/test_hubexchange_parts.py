"""Pure parts of the exchange service (labgrader/hubexchange/): the store's records, and the list
dicts the Assignments tab reads, shaped exactly as nbgrader's own file-system list makes them."""
import json
import os
import stat

import pytest
from nbgrader.auth import Authenticator
from nbgrader.coursedir import CourseDirectory
from nbgrader.exchange.default.list import ExchangeList
from traitlets.config import Config

from labgrader.hubexchange import listing, store

NB = json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


def shape(value):
    """The keys of every dict in ``value``, recursively (values' types only where they are containers)."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(v) for v in value[:1]]
    return None


def nbgraders_cached_list(tmp_path, with_local_feedback):
    """What nbgrader's own ExchangeList --cached returns for one submission of one notebook."""
    cache = tmp_path / "cache"
    entry = cache / "course1" / "alice+ps1+2026-01-01 10:00:00.000000 UTC"
    entry.mkdir(parents=True)
    (entry / "ps1.ipynb").write_text(NB)
    (entry / "submission_secret.txt").write_text("ab" * 32)
    work = tmp_path / "work"
    if with_local_feedback:
        folder = work / "ps1" / "feedback" / "2026-01-01 10:00:00.000000 UTC"
        folder.mkdir(parents=True)
        (folder / "ps1.html").write_text("<p>page</p>")
    work.mkdir(exist_ok=True)
    config = Config()
    config.Exchange.root = str(tmp_path / "exchange")
    config.Exchange.cache = str(cache)
    config.Exchange.assignment_dir = str(work)
    config.ExchangeList.cached = True
    config.CourseDirectory.course_id = "course1"
    (tmp_path / "exchange").mkdir()
    os.chmod(tmp_path / "exchange", 0o777)
    lister = ExchangeList(coursedir=CourseDirectory(config=config), authenticator=Authenticator(config=config),
                          config=config)
    return lister.start()


@pytest.mark.parametrize("with_local_feedback", [False, True])
def test_cached_submissions_have_nbgraders_shape(tmp_path, with_local_feedback):
    theirs = nbgraders_cached_list(tmp_path, with_local_feedback)
    local = tmp_path / "work" / "ps1" / "feedback" / "2026-01-01 10:00:00.000000 UTC"
    notebooks = [dict({"notebook_id": "ps1", "path": "/x/ps1.ipynb"},
                      **listing.feedback_state(str(local), "ps1", {"ps1": {"sha256": "0" * 64}}))]
    ours = listing.grouped([listing.submission_info("course1", "alice", "ps1", "2026-01-01 10:00:00.000000 UTC", "/x",
                                                    notebooks, str(local))])
    assert shape(ours) == shape(theirs)
    mine, stock = ours[0]["submissions"][0], theirs[0]["submissions"][0]
    assert mine["has_local_feedback"] == stock["has_local_feedback"] == with_local_feedback
    assert mine["feedback_updated"] is with_local_feedback  # the service's page differs from the local one
    assert (mine["local_feedback_path"] is None) == (stock["local_feedback_path"] is None)


def test_the_store_refuses_a_folder_it_does_not_own(tmp_path):
    folder = tmp_path / "store"
    folder.mkdir()
    if os.geteuid() != 0:
        pytest.skip("needs root to hand the folder to nobody")
    os.chown(folder, 65534, 65534)
    with pytest.raises(store.UnsafeStore, match="belongs to uid 65534"):
        store.Store(str(folder))


def test_the_store_is_private_and_makes_group_readable_folders_private(tmp_path):
    folder = tmp_path / "store"
    folder.mkdir(mode=0o755)
    os.chmod(folder, 0o755)
    kept = store.Store(str(folder))
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    upload = kept.incoming()
    upload.write(b"PK bytes")
    sha = kept.keep(upload)
    assert stat.S_IMODE(os.stat(kept.blob_path(sha)).st_mode) == 0o400


def test_two_submissions_never_share_a_time_and_a_replay_is_found(tmp_path):
    kept = store.Store(str(tmp_path / "store"))
    first = kept.submit("ps1", "alice", 1_800_000_000_123_456_789, "a" * 64, 10, "upload-one-aaaaaaaa", ["ps1.ipynb"])
    second = kept.submit("ps1", "alice", 1_800_000_000_123_456_000, "b" * 64, 10, "upload-two-aaaaaaaa", ["ps1.ipynb"])
    assert first.received_ns == 1_800_000_000_123_456_000  # microseconds, as timestamp.txt holds them
    assert second.received_ns == first.received_ns + 1000 and second.timestamp != first.timestamp
    assert kept.by_upload_id("alice", "upload-one-aaaaaaaa").id == first.id
    assert kept.by_upload_id("bob", "upload-one-aaaaaaaa") is None
    assert kept.bytes_of("alice") == 20


def test_refusals_are_bounded_per_caller(tmp_path, monkeypatch):
    """A flood (with a token or without) pushes out only its own sender's oldest records."""
    monkeypatch.setattr(store, "KEPT_REFUSALS", 5)
    kept = store.Store(str(tmp_path / "store"))
    kept.refuse("bob", "submit", "ps1", 413, "bob's one refusal")
    for i in range(12):
        kept.refuse("(no valid token)", "submit", "ps1", 403, f"flood {i}")
    reasons = [r["reason"] for r in kept.refusals()]
    assert "bob's one refusal" in reasons and reasons[0] == "flood 11"
    assert len([r for r in reasons if r.startswith("flood")]) <= 6
