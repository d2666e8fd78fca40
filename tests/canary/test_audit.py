"""The audit chain finds any edited, reordered, inserted or deleted line; the CLI's exit codes."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from sloengine.audit import GENESIS_HASH, AuditLog, AuditLogError, entry_hash, verify
from sloengine.cli import audit as audit_cli


def main(argv: list[str]) -> int:
    # Only this subcommand: the other subcommands' imports are not this test's business.
    parser = argparse.ArgumentParser(prog="sloengine")
    audit_cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return int(args.func(args))


def make_log(tmp_path: Path, n: int = 5) -> Path:
    clock = iter(float(1_800_000_000 + i) for i in range(100))
    log = AuditLog(tmp_path / "audit.jsonl", clock=lambda: next(clock))
    for i in range(n):
        log.append("canary", "verdict_changed", f"reason {i}", {"service": "gateway", "i": i})
    return log.path


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines(keepends=True)


def test_entries_are_chained_and_hashed(tmp_path: Path) -> None:
    path = make_log(tmp_path, 3)
    entries = [json.loads(line) for line in lines(path)]
    assert [e["seq"] for e in entries] == [0, 1, 2]
    assert entries[0]["prev_hash"] == GENESIS_HASH
    assert entries[1]["prev_hash"] == entries[0]["hash"]
    assert all(e["hash"] == entry_hash(e) for e in entries)
    result = verify(path)
    assert result.ok and result.entries == 3 and result.head_checked


def test_reopening_continues_the_chain(tmp_path: Path) -> None:
    path = make_log(tmp_path, 2)
    AuditLog(path).append("ops", "config_loaded", "restart", {})
    assert verify(path).ok
    assert json.loads(lines(path)[-1])["seq"] == 2


def test_edited_line_is_found(tmp_path: Path) -> None:
    path = make_log(tmp_path)
    text = lines(path)
    text[2] = text[2].replace("reason 2", "reason X")
    path.write_text("".join(text))
    result = verify(path)
    assert not result.ok and result.line == 3 and "edited" in result.reason


def test_reordered_lines_are_found(tmp_path: Path) -> None:
    path = make_log(tmp_path)
    text = lines(path)
    text[1], text[2] = text[2], text[1]
    path.write_text("".join(text))
    result = verify(path)
    assert not result.ok and result.line == 2


def test_deleted_middle_line_is_found(tmp_path: Path) -> None:
    path = make_log(tmp_path)
    text = lines(path)
    del text[2]
    path.write_text("".join(text))
    result = verify(path)
    assert not result.ok and result.line == 3 and "deleted" in result.reason


def test_deleted_first_line_is_found(tmp_path: Path) -> None:
    path = make_log(tmp_path)
    path.write_text("".join(lines(path)[1:]))
    assert verify(path).line == 1


def test_inserted_line_is_found(tmp_path: Path) -> None:
    path = make_log(tmp_path)
    text = lines(path)
    forged = json.loads(text[1])
    forged["reason"] = "forged"
    forged["hash"] = entry_hash(forged)  # a self-consistent entry, but out of the chain
    text.insert(2, json.dumps(forged) + "\n")
    path.write_text("".join(text))
    result = verify(path)
    assert not result.ok and result.line == 3


def test_truncated_tail_is_found_through_the_head_file(tmp_path: Path) -> None:
    path = make_log(tmp_path)
    path.write_text("".join(lines(path)[:-1]))
    result = verify(path)
    assert not result.ok and "truncated" in result.reason


def test_without_head_file_a_truncated_tail_is_a_valid_chain(tmp_path: Path) -> None:
    # The documented limit of a bare chain: what is left is still consistent.
    path = make_log(tmp_path)
    path.write_text("".join(lines(path)[:-1]))
    path.with_name(path.name + ".head").unlink()
    assert verify(path).ok


def test_cli_verify_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = make_log(tmp_path)
    assert main(["audit", "verify", str(path)]) == 0
    assert "ok, 5 entries" in capsys.readouterr().out
    text = lines(path)
    text[3] = text[3].replace("gateway", "gatewaY")
    path.write_text("".join(text))
    assert main(["audit", "verify", str(path)]) == 1
    assert "line 4: hash does not match" in capsys.readouterr().err
    assert main(["audit", "verify", str(tmp_path / "missing.jsonl")]) == 2


def test_cli_show_prints_a_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = make_log(tmp_path, 2)
    assert main(["audit", "show", str(path), "--details"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:3] == ["SEQ", "TIME", "(UTC)"]
    assert "verdict_changed" in out[1] and "reason 0" in out[1]
    assert '"service": "gateway"' in out[2]


def test_torn_last_line_is_cut_and_the_cut_recorded(tmp_path: Path) -> None:
    path = make_log(tmp_path, 3)
    with path.open("ab") as f:
        f.write(b'{"seq": 3, "time": 1800000003, "act')  # a crash inside append
    log = AuditLog(path)
    entries = [json.loads(line) for line in lines(path)]
    assert entries[-1]["action"] == "audit_tail_truncated"
    assert entries[-1]["seq"] == 3 and entries[-1]["details"] == {"bytes": 35}
    assert log.head[0] == 3
    assert verify(path).ok


def test_corrupt_middle_line_refuses_to_extend_the_chain(tmp_path: Path) -> None:
    path = make_log(tmp_path, 3)
    text = lines(path)
    text[1] = "not json\n"
    path.write_text("".join(text))
    with pytest.raises(AuditLogError, match="unreadable entry"):
        AuditLog(path)
