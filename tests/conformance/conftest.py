"""At the end of a run, say plainly which client suites were skipped and the command that enables them."""

from __future__ import annotations

from typing import Any

ENABLE_COMMAND = "bash clients/install.sh"


def pytest_terminal_summary(terminalreporter: Any) -> None:
    skipped = [
        report
        for report in terminalreporter.stats.get("skipped", [])
        if "tests/conformance/test_clients.py" in getattr(report, "nodeid", "")
    ]
    if not skipped:
        return
    terminalreporter.section("client suites skipped")
    for report in skipped:
        language = report.nodeid.rpartition("::test_")[2].removesuffix("_client")
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        terminalreporter.write_line(f"{language}: {reason.removeprefix('Skipped: ')}")
    terminalreporter.write_line(f"Enable them with: {ENABLE_COMMAND} (then run make test again)")
