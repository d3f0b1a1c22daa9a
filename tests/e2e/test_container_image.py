"""The container image as a deployment runs it: built from the Dockerfile, migrated, served.

The image is built once per run (``docker build --network host``; the base image is
``BUURTMUNT_DOCKER_BASE`` where set, as ``.ci/run`` does with the image that
``shared/tools/docker-here.sh`` builds, else the Dockerfile's default). Containers share the
host's network, so they reach the machine's PostgreSQL at 127.0.0.1 and this test reaches the
server on a free port. Every container is named for this run and removed at the end, whether
the test passed or not.
"""

from __future__ import annotations

import datetime
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import require
from tests.support.server import free_port

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "buurtmunt:e2e"
APP_UID = "10001"
KEY_NAME = "buurtmunt.test"
BUILD_SECONDS_MAX = 20 * 60
COMMAND_SECONDS_MAX = 5 * 60
HEALTHY_SECONDS_MAX = 120


def docker_unavailable_reason() -> str | None:
    """None when a Docker daemon answers; otherwise why not."""
    if shutil.which("docker") is None:
        return "docker is not installed (.ci/run starts one with shared/tools/docker-here.sh)"
    try:
        done = subprocess.run(
            ["docker", "info", "--format", "{{.ServerVersion}}"],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return "the Docker daemon did not answer `docker info` within 30 s"
    if done.returncode != 0:
        return f"the Docker daemon does not answer: {done.stderr.strip()[-300:]}"
    return None


def tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.splitlines()[-lines:])


class Containers:
    """``docker run`` on the image with the host's network; removes what it started."""

    def __init__(self, image: str, env: dict[str, str], mounts: dict[Path, str]) -> None:
        self.image, self.env, self.mounts = image, env, mounts
        self.prefix = f"bm-e2e-{secrets.token_hex(4)}"
        self.names: list[str] = []

    def _options(self, name: str, user: str | None) -> list[str]:
        self.names.append(name)
        options = ["--name", name, "--network", "host"]
        for key, value in self.env.items():
            options += ["--env", f"{key}={value}"]
        for source, target in self.mounts.items():
            options += ["--volume", f"{source}:{target}"]
        return options + (["--user", user] if user else [])

    def run(self, *command: str, user: str | None = None) -> str:
        """Run ``command`` in a new container to its end; its stdout (fails on non-zero)."""
        name = f"{self.prefix}-{len(self.names)}"
        done = subprocess.run(
            ["docker", "run", "--rm", *self._options(name, user), self.image, *command],
            capture_output=True, text=True, timeout=COMMAND_SECONDS_MAX, check=False,
        )  # fmt: skip
        assert done.returncode == 0, f"{' '.join(command)} in the image:\n{done.stderr}"
        return done.stdout

    def start(self, *options: str) -> str:
        """Start the image's own command (``buurtmunt serve``) detached; the container's name."""
        name = f"{self.prefix}-{len(self.names)}"
        docker("run", "--detach", *self._options(name, None), *options, self.image)
        return name

    def remove_all(self) -> None:
        if self.names:
            subprocess.run(
                ["docker", "rm", "--force", "--volumes", *self.names],
                capture_output=True, timeout=COMMAND_SECONDS_MAX, check=False,
            )  # fmt: skip


def docker(*args: str) -> str:
    done = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=COMMAND_SECONDS_MAX, check=False
    )
    assert done.returncode == 0, f"docker {args[0]} failed:\n{done.stdout}{done.stderr}"
    return done.stdout


def inspect(name: str, template: str) -> Any:
    return json.loads(docker("inspect", "--format", "{{json " + template + "}}", name))


def wait_until_healthy(name: str) -> float:
    """Seconds until Docker's healthcheck of ``name`` passed; fails with the server's log."""
    started = time.monotonic()
    while time.monotonic() - started < HEALTHY_SECONDS_MAX:
        state = inspect(name, ".State")
        if state["Health"]["Status"] == "healthy":
            return time.monotonic() - started
        if not state["Running"]:
            break
        time.sleep(0.5)
    logs = subprocess.run(["docker", "logs", name], capture_output=True, text=True, check=False)
    pytest.fail(f"the served image never became healthy:\n{tail(logs.stdout + logs.stderr)}")


def build(context: Path, *options: str) -> str:
    """``docker build`` of ``context`` with the test's base image; its output."""
    base = os.environ.get("BUURTMUNT_DOCKER_BASE")
    build_args = ["--build-arg", f"BASE={base}"] if base else []
    command = ["docker", "build", "--network", "host", *build_args, *options, str(context)]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=BUILD_SECONDS_MAX, check=False
    )
    if done.returncode != 0:
        pytest.fail(f"{' '.join(command)} failed:\n{tail(done.stdout + done.stderr)}")
    return done.stdout


@pytest.fixture(scope="module")
def image() -> Iterator[str]:
    require(docker_unavailable_reason())
    started = time.monotonic()
    build(ROOT, "--tag", IMAGE)
    print(f"built {IMAGE} in {time.monotonic() - started:.1f} s")
    yield IMAGE


def test_the_image_runs_as_an_unprivileged_user_and_checks_its_own_health(image: str) -> None:
    config = inspect(image, ".Config")

    assert config["User"] == f"{APP_UID}:{APP_UID}"
    assert config["Cmd"] == ["buurtmunt", "serve"]
    assert "/health" in " ".join(config["Healthcheck"]["Test"])
    assert docker("run", "--rm", "--network", "host", image, "id", "-u").strip() == APP_UID


def the_build_context(into: Path) -> Path:
    """A copy of what the build context may hold, so that a test can change it."""
    for name in ("Dockerfile", ".dockerignore", "pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, into / name)
    for package in ("ledger", "api", "mobile_web"):
        shutil.copytree(
            ROOT / package, into / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    return into


def steps(output: str) -> dict[str, str]:
    """The classic builder's output as {instruction: what it printed}."""
    found: dict[str, str] = {}
    for block in output.split("\nStep ")[1:]:
        instruction, _, printed = block.partition("\n")
        found[instruction.split(" : ", 1)[1]] = printed
    return found


def test_a_change_to_the_source_rebuilds_without_reinstalling_the_dependencies(
    image: str, tmp_path: Path
) -> None:
    context = the_build_context(tmp_path)
    with (context / "api" / "__init__.py").open("a") as module:
        module.write(f"\n# {uuid.uuid4()}\n")

    started = time.monotonic()
    output = build(context, "--target", "build", "--tag", f"{IMAGE}-build")
    print(f"rebuilt the build stage after a source change in {time.monotonic() - started:.1f} s")

    built = steps(output)
    dependencies = next(k for k in built if "-r /src/requirements.txt" in k)
    assert "Using cache" in built[dependencies]
    assert "Using cache" not in built["COPY . /src/"]
    docker("image", "rm", f"{IMAGE}-build")


def test_the_build_context_holds_the_packages_and_no_venv_database_key_or_git(
    image: str, tmp_path: Path
) -> None:
    context = the_build_context(tmp_path)
    for stray in (".venv/bin/python", "var/buurtmunt.db", "var/signing.key", ".git/HEAD",
                  "api/__pycache__/app.cpython-311.pyc", "export/oost/entries.jsonl"):  # fmt: skip
        (context / stray).parent.mkdir(parents=True, exist_ok=True)
        (context / stray).write_text("must not be sent to the daemon")
    (context / "Dockerfile").write_text(
        "ARG BASE=python:3.11-slim-bookworm\nFROM ${BASE}\nCOPY . /context/\n"
        "RUN find /context -name '*.py' -prune -o -print | sort\n"
    )

    # --no-cache: a cached step would not print the listing.
    output = build(context, "--no-cache", "--tag", f"{IMAGE}-context")
    docker("image", "rm", f"{IMAGE}-context")
    listed = [line for line in output.splitlines() if line.startswith("/context")]

    top = {line.split("/")[2] for line in listed if line.count("/") >= 2}
    assert top == {"pyproject.toml", "README.md", "ledger", "api", "mobile_web"}
    assert not [line for line in listed if "__pycache__" in line or line.endswith((".db", ".key"))]


def generate_key(containers: Containers) -> str:
    """The signing key made as docs/operations.md says: in the image, handed to the app's uid."""
    script = (
        f"buurtmunt keys generate --out /keys/signing.key --name {KEY_NAME}"
        f" && chown {APP_UID}:{APP_UID} /keys/signing.key"
    )
    return containers.run("sh", "-c", script, user="root").strip().splitlines()[-1]


async def test_a_transfer_paid_through_the_served_image_exports_a_bundle_that_verifies_on_the_host(
    image: str, postgres_url: str, tmp_path: Path
) -> None:
    port = free_port()
    keys, exports = tmp_path / "keys", tmp_path / "exports"
    keys.mkdir()
    exports.mkdir()
    exports.chmod(0o777)  # the app's uid writes the bundle here
    env = {
        "BUURTMUNT_DATABASE_URL": postgres_url,
        "BUURTMUNT_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "BUURTMUNT_LISTEN_HOST": "127.0.0.1",
        "BUURTMUNT_LISTEN_PORT": str(port),
    }
    containers = Containers(image, env, {keys: "/keys"})
    try:
        key = generate_key(containers)
        containers.env["BUURTMUNT_SIGNING_KEY_FILE"] = "/keys/signing.key"

        assert "up to date" in containers.run("buurtmunt", "db", "upgrade")
        created = containers.run("buurtmunt", "community", "create", "oost", "--name", "Oost")
        # The key the community's auditors get: the same key, named for the log's origin.
        (verifier,) = [
            line.removeprefix("verifier key: ")
            for line in created.splitlines()
            if line.startswith("verifier key: ")
        ]
        assert verifier.startswith(f"127.0.0.1:{port}/oost+")
        assert verifier.rsplit("+", 1)[1] == key.rsplit("+", 1)[1]
        admin = containers.run(
            "buurtmunt", "token", "--community", "oost", "--role", "admin", "--name", "Anna"
        ).splitlines()[-1]
        server = containers.start("--health-interval", "1s", "--health-start-period", "60s")
        healthy_seconds = wait_until_healthy(server)
        print(f"served image healthy after {healthy_seconds:.1f} s")

        with httpx.Client(base_url=f"http://127.0.0.1:{port}/api/v1", timeout=30) as api:

            def post(path: str, token: str, body: dict[str, Any]) -> dict[str, Any]:
                headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": str(uuid.uuid4())}
                response = api.post(path, json=body, headers=headers)
                assert response.status_code in (200, 201), response.text
                result: dict[str, Any] = response.json()
                return result

            post("/organisations", admin, {"name": "Buurthuis", "budget_minutes_per_month": 600})
            fatima = post("/members", admin, {"name": "Fatima"})["member_account"]
            joost = post("/members", admin, {"name": "Joost"})["member_account"]
            coordinator = containers.run(
                "buurtmunt", "token", "--community", "oost", "--role", "coordinator",
                "--name", "Cor",
            ).splitlines()[-1]  # fmt: skip
            member = containers.run(
                "buurtmunt", "token", "--community", "oost", "--role", "member", "--account", fatima
            ).splitlines()[-1]
            today = datetime.date.today().isoformat()
            earning = {
                "member": fatima,
                "amount_minutes": 120,
                "activity": "tuin",
                "worked_on": today,
            }
            post("/earnings", coordinator, earning)
            paid = post("/transfers", member, {"payee": joost, "amount_minutes": 45})
            balance = api.get(f"/accounts/{fatima}", headers={"Authorization": f"Bearer {member}"})

        assert balance.json()["balance_minutes"] == 75
        docker("stop", "--time", "20", server)
        assert inspect(server, ".State.ExitCode") == 0  # SIGTERM reaches the server as PID 1

        containers.mounts[exports] = "/exports"
        containers.run("buurtmunt", "export", "--community", "oost", "--out", "/exports/oost")
    finally:
        containers.remove_all()

    verified = subprocess.run(
        [sys.executable, "-m", "api.cli", "verify", str(exports / "oost"), "--key", verifier],
        capture_output=True, text=True, cwd=ROOT, timeout=COMMAND_SECONDS_MAX, check=False,
    )  # fmt: skip
    assert verified.returncode == 0, verified.stdout + verified.stderr
    summary = dict(line.split(None, 1) for line in verified.stdout.splitlines())
    assert summary["result"].startswith("OK")
    assert summary["outstanding"].startswith("2 hours (120 minutes)")
    assert paid["id"] in (exports / "oost" / "entries.jsonl").read_text()
