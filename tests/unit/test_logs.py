"""``worker.logs``: JSON and text lines carry the run id and person bound around them, secrets are
redacted (URL credentials, registered secret values, also inside a logged exception), and configuring
touches only the project's own loggers."""

from __future__ import annotations

import io
import json
import logging

import pytest

from worker import logs
from worker.logs import LogSettings, bound, configure, register_secrets


def lines_of(buf: io.StringIO) -> list[str]:
    return [line for line in buf.getvalue().splitlines() if line]


def test_json_lines_carry_the_bound_run_and_person(project_loggers: None) -> None:
    buf = io.StringIO()
    configure(LogSettings(format="json"), level="DEBUG", stream=buf)
    log = logging.getLogger("worker.sync.service")
    log.info("outside")
    with bound(run_id="live-1"):
        log.info("in the run")
        with bound(person="sf:Lead:00Q1"):
            log.warning("for %s", "a person")
        log.debug("back in the run")
    docs = [json.loads(line) for line in lines_of(buf)]
    assert [(d["run_id"], d["person"], d["message"]) for d in docs] == [
        (None, None, "outside"),
        ("live-1", None, "in the run"),
        ("live-1", "sf:Lead:00Q1", "for a person"),
        ("live-1", None, "back in the run"),
    ]
    assert all(set(d) == {"ts", "level", "logger", "message", "run_id", "person"} for d in docs)
    assert docs[2]["level"] == "WARNING" and docs[2]["logger"] == "worker.sync.service"
    assert docs[0]["ts"].endswith("Z") and "T" in docs[0]["ts"]


def test_text_lines_name_the_run_and_person(project_loggers: None) -> None:
    buf = io.StringIO()
    configure(LogSettings(format="text"), stream=buf)
    with bound(run_id="resync-abc", person="hs:contacts:7"):
        logging.getLogger("crmsync.tasks").info("hello")
    [line] = lines_of(buf)
    assert line.endswith(" INFO crmsync.tasks [run=resync-abc person=hs:contacts:7] hello")


def test_secrets_are_redacted_in_messages_and_exceptions(project_loggers: None) -> None:
    buf = io.StringIO()
    configure(LogSettings(format="json"), stream=buf)
    register_secrets(["pat-na1-0123456789abcdef"])
    log = logging.getLogger("worker.tasks")
    log.warning("redis at redis://:hunter2-password@cache:6379/0 refused; token pat-na1-0123456789abcdef")
    try:
        raise RuntimeError("Bearer pat-na1-0123456789abcdef was refused")
    except RuntimeError:
        log.exception("call failed")
    text = buf.getvalue()
    assert "hunter2-password" not in text and "pat-na1-0123456789abcdef" not in text
    first, second = (json.loads(line) for line in lines_of(buf))
    assert first["message"] == "redis at redis://:***@cache:6379/0 refused; token ***"
    assert "Bearer *** was refused" in second["exc"]


def test_configure_leaves_the_root_and_third_party_loggers_alone(project_loggers: None) -> None:
    root = logging.getLogger()
    third = logging.getLogger("urllib3")
    before = (root.level, root.handlers[:], third.level, third.handlers[:])
    configure(LogSettings(format="json"), level="DEBUG", stream=io.StringIO())
    configure(LogSettings(format="json"), level="DEBUG", stream=io.StringIO())  # idempotent
    assert (root.level, root.handlers, third.level, third.handlers) == before
    for name in logs.PROJECT_LOGGERS:
        lg = logging.getLogger(name)
        ours = [h for h in lg.handlers if isinstance(h, logs._ProjectHandler)]
        assert len(ours) == 1 and lg.level == logging.DEBUG and not lg.propagate


def test_a_bad_format_is_refused_naming_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRMSYNC_LOG_FORMAT", "xml")
    with pytest.raises(ValueError, match="format"):
        LogSettings()
