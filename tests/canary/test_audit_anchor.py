"""Issue 11 item 9: a truncated audit tail is detected at start, recorded, and reported.

The chain alone cannot show a cut-off tail; its anchor (the `.head` file) can, and the head
is also published outside both files (a log line and an observer per append) so a cut of
both is still detectable with `verify --expect-head`.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from sloengine.audit import AuditLog, hash52, verify
from tests.canary.test_audit import lines, main, make_log


def head_file(path: Path) -> Path:
    return path.with_name(path.name + ".head")


def cut_tail(path: Path, keep: int) -> None:
    path.write_text("".join(lines(path)[:keep]))


def actions(path: Path) -> list[str]:
    return [json.loads(line)["action"] for line in lines(path)]


def test_a_tail_deleted_while_stopped_is_recorded_at_start_and_verify_fails(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    path = make_log(tmp_path, 5)
    cut_tail(path, 3)
    with caplog.at_level(logging.ERROR, logger="sloengine.audit"):
        log = AuditLog(path)
    assert log.chain_break is not None and "ends at seq 2" in log.chain_break
    assert "recorded seq 4" in log.chain_break
    assert any("ends at seq 2" in r.getMessage() for r in caplog.records)
    entry = json.loads(lines(path)[-1])
    assert entry["action"] == "audit_chain_break"
    assert (entry["details"]["log_seq"], entry["details"]["head_seq"]) == (2, 4)
    log.append("canary", "verdict_changed", "later", {})  # the chain goes on...
    result = verify(path)  # ...but the break stays reported
    assert not result.ok and result.line == 4 and "chain break recorded at open" in result.reason
    assert main(["audit", "verify", str(path)]) == 1
    assert "line 4: chain break recorded at open" in capsys.readouterr().err


def test_deleting_the_tail_and_the_head_together_is_recorded_too(tmp_path: Path) -> None:
    path = make_log(tmp_path, 5)
    cut_tail(path, 3)
    head_file(path).unlink()
    log = AuditLog(path)
    assert log.chain_break is not None and "missing" in log.chain_break
    assert actions(path)[-1] == "audit_chain_break"
    assert not verify(path).ok


def test_a_crash_between_an_append_and_its_head_rewrite_is_not_a_break(tmp_path: Path) -> None:
    path = make_log(tmp_path, 4)
    stale = head_file(path).read_bytes()
    log = AuditLog(path)
    log.append("canary", "verdict_changed", "the last append", {})
    head_file(path).write_bytes(stale)  # the head rewrite never happened
    again = AuditLog(path)
    assert again.chain_break is None
    assert again.head[0] == 4
    assert verify(path).ok  # nothing appended yet; the head still lags by one
    again.append("canary", "verdict_changed", "next", {})
    assert verify(path).ok and "audit_chain_break" not in actions(path)


def test_a_new_log_and_a_clean_reopen_record_nothing(tmp_path: Path) -> None:
    path = make_log(tmp_path, 3)
    assert AuditLog(path).chain_break is None
    assert verify(path).ok


def test_every_append_publishes_the_head_outside_the_files(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[tuple[int, str]] = []
    with caplog.at_level(logging.INFO, logger="sloengine.audit"):
        log = AuditLog(tmp_path / "audit.jsonl", observer=lambda s, h: seen.append((s, h)))
        first = log.append("canary", "verdict_changed", "one", {})
        second = log.append("canary", "verdict_changed", "two", {})
    assert seen == [(0, first["hash"]), (1, second["hash"])]
    published = [r.getMessage() for r in caplog.records if "audit head" in r.getMessage()]
    assert published == [
        f"audit head seq=0 hash={first['hash']}",
        f"audit head seq=1 hash={second['hash']}",
    ]
    assert hash52(second["hash"]) == int(second["hash"][:13], 16) < 2**53


def test_verify_against_a_head_kept_elsewhere_finds_a_cut_of_both_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = make_log(tmp_path, 5)
    last = json.loads(lines(path)[-1])
    published = f"{last['seq']}:{last['hash'][:16]}"
    assert main(["audit", "verify", str(path), "--expect-head", published]) == 0
    cut_tail(path, 3)
    head_file(path).unlink()
    assert verify(path).ok  # the bare chain cannot tell...
    assert main(["audit", "verify", str(path), "--expect-head", published]) == 1
    assert "expected head is seq 4 (tail truncated)" in capsys.readouterr().err
    forged = f"2:{'0' * 16}"
    assert main(["audit", "verify", str(path), "--expect-head", forged]) == 1
    assert "history rewritten" in capsys.readouterr().err


def test_a_malformed_expected_head_is_one_line(tmp_path: Path) -> None:
    path = make_log(tmp_path, 2)
    from sloengine.cli import main as cli_main

    assert cli_main(["audit", "verify", str(path), "--expect-head", "nope"]) == 2
