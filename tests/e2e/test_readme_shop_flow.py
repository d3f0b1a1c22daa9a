"""The README's demo and its shop flow, as a newcomer pastes them: ``buurtmunt demo``
in an empty directory, then the "Paying at a shop" commands in bash with curl."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import require
from tests.support.server import ROOT, free_port

START_SECONDS = 120.0
FLOW_SECONDS = 60.0


def _readme_block(heading: str) -> str:
    """The first ``sh`` block under ``heading`` in the README."""
    text = (ROOT / "README.md").read_text()
    section = text.split(f"\n{heading}\n", 1)[1]
    return section.split("```sh\n", 1)[1].split("```", 1)[0]


def _buurtmunt() -> list[str]:
    installed = Path(sys.executable).parent / "buurtmunt"
    return [str(installed)] if installed.exists() else [sys.executable, "-m", "api.cli"]


def _newcomers_environment() -> dict[str, str]:
    """This one without the test run's own Buurtmunt settings: the defaults, as the README's."""
    return {k: v for k, v in os.environ.items() if not k.startswith("BUURTMUNT_")}


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[str, str, Path]]:
    """``buurtmunt demo`` serving from an empty directory: its base URL, its printout and
    the directory."""
    require(None if shutil.which("curl") else "curl is not installed")
    port = free_port()
    out = tmp_path / "demo.out"
    with out.open("wb") as sink:
        process = subprocess.Popen(
            [*_buurtmunt(), "demo", "--port", str(port)],
            cwd=tmp_path,
            env=_newcomers_environment(),
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        began = time.monotonic()
        while True:
            try:
                with urllib.request.urlopen(f"{base}/ready", timeout=1):
                    break
            except OSError:
                assert process.poll() is None, out.read_text()
                assert time.monotonic() - began < START_SECONDS, out.read_text()
                time.sleep(0.2)
        yield base, out.read_text(), tmp_path
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def test_the_readme_shop_flow_runs_against_the_demo(demo: tuple[str, str, Path]) -> None:
    base, printed, directory = demo
    member = re.search(r"^member .*\n.*\n\s+API token:\s+(\S+)$", printed, re.MULTILINE)
    assert member is not None, printed
    script = (
        _readme_block("## Paying at a shop")
        .replace("http://127.0.0.1:8000", base)
        .replace(".venv/bin/buurtmunt", shlex.join(_buurtmunt()))
        .replace("<the member's API token the demo printed>", member.group(1))
    )

    ran = subprocess.run(
        ["bash", "-c", f"set -e\n{script}\nwait\n"],
        cwd=directory,
        env=_newcomers_environment(),
        capture_output=True,
        text=True,
        timeout=FLOW_SECONDS,
    )

    said = ran.stdout
    assert ran.returncode == 0, f"{said}\n{ran.stderr}"
    assert "event: paid" in said, said
    assert '"status":"paid"' in said and '"remaining_minutes":60' in said, said
    assert (directory / "qr.svg").read_text().lstrip().startswith(("<?xml", "<svg"))
    statement = said[said.index("record,seq,time,kind,") :].splitlines()
    kinds = [line.split(",")[3:5] for line in statement if line.startswith("entry,")]
    assert ["redemption", "90"] in kinds and ["refund", "-30"] in kinds, said


def test_the_demo_prints_the_key_its_communitys_checkpoints_verify_with(
    demo: tuple[str, str, Path],
) -> None:
    base, printed, _ = demo
    printed_key = re.search(r"verify with \(buurtmunt verify --key\): (\S+)$", printed, re.M)
    member = re.search(r"^member .*\n.*\n\s+API token:\s+(\S+)$", printed, re.MULTILINE)
    assert printed_key is not None and member is not None, printed
    request = urllib.request.Request(
        f"{base}/api/v1/communities/demo", headers={"Authorization": f"Bearer {member.group(1)}"}
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        community = json.load(answer)
    assert printed_key.group(1) == community["verifier_key"], printed


def test_the_demo_logs_a_sign_in_by_its_route_never_its_token(
    demo: tuple[str, str, Path],
) -> None:
    base, printed, directory = demo
    link = re.search(rf"{re.escape(base)}/e/([A-Za-z0-9_-]+)", printed)
    assert link is not None, printed
    with urllib.request.urlopen(link.group(0), timeout=10) as answer:
        assert answer.status == 200
    deadline = time.monotonic() + 5
    while '"route":"/e/{token}"' not in (logged := (directory / "demo.out").read_text()):
        assert time.monotonic() < deadline, logged
        time.sleep(0.1)
    assert logged.count(link.group(1)) == 1, "only in the printout of the ways in"
