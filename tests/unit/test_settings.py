"""Settings read from the environment: the comma-separated ones, numbers, and the database
password from a file."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from api.settings import SettingError, Settings


def test_keys_in_a_list_keep_a_trailing_slash_of_their_base64() -> None:
    env = {
        "BUURTMUNT_RETIRED_VERIFIER_KEYS": " a.test+0102abcd+AQID/ , b.test+0a0b0c0d+AQIE/",
        "BUURTMUNT_WITNESSES": "https://w.test/ w.test+01020304+BAID/",
    }

    settings = Settings.from_env(env)

    assert settings.retired_verifier_keys == ("a.test+0102abcd+AQID/", "b.test+0a0b0c0d+AQIE/")
    assert settings.witnesses == ("https://w.test/ w.test+01020304+BAID/",)


def test_web_origins_lose_a_trailing_slash_and_blanks() -> None:
    settings = Settings.from_env({"BUURTMUNT_CORS_ORIGINS": "https://kaart.test/, ,https://b.test"})

    assert settings.cors_origins == ("https://kaart.test", "https://b.test")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("BUURTMUNT_IDEMPOTENCY_KEY_RETENTION_DAYS", "-1"),
        ("BUURTMUNT_IDEMPOTENCY_KEY_RETENTION_DAYS", "abc"),
        ("BUURTMUNT_WORKERS", "0"),
        ("BUURTMUNT_DATABASE_POOL_SIZE", "0"),
        ("BUURTMUNT_CHECKPOINT_INTERVAL_SECONDS", "-0.5"),
        ("BUURTMUNT_EVENT_HEARTBEAT_SECONDS", "nan"),
        ("BUURTMUNT_WITNESS_TIMEOUT_SECONDS", "inf"),
    ],
)
def test_a_number_that_cannot_be_the_setting_is_refused_by_name(name: str, value: str) -> None:
    with pytest.raises(SettingError) as refused:
        Settings.from_env({name: value})

    assert str(refused.value).startswith(f"{name}={value!r}: ")


def test_numbers_left_out_or_blank_take_their_defaults() -> None:
    settings = Settings.from_env({"BUURTMUNT_WORKERS": "", "BUURTMUNT_REFUND_WINDOW_DAYS": "0"})

    assert (settings.workers, settings.refund_window_days) == (1, 0)
    assert settings.database_pool_size is None and settings.checkpoint_interval_seconds == 1.0


def test_a_password_file_gives_the_database_urls_their_password(tmp_path: Path) -> None:
    secret = tmp_path / "db_password"
    secret.write_text("ab/c:d@e\n")
    env = {
        "BUURTMUNT_DATABASE_URL": "postgresql://buurtmunt@db:5432/buurtmunt",
        "BUURTMUNT_READ_DATABASE_URL": "postgresql://reader:own@replica/buurtmunt",
        "BUURTMUNT_DATABASE_PASSWORD_FILE": str(secret),
    }

    settings = Settings.from_env(env)

    assert make_url(settings.database_url).password == "ab/c:d@e"
    assert make_url(settings.database_url).host == "db"
    assert make_url(settings.database_url).port == 5432
    assert settings.read_database_url == "postgresql://reader:own@replica/buurtmunt"
    assert Settings.from_env({**env, "BUURTMUNT_DATABASE_PASSWORD_FILE": ""}).database_url == (
        "postgresql://buurtmunt@db:5432/buurtmunt"
    )


@pytest.mark.parametrize(
    ("url", "file", "says"),
    [
        ("postgresql://db/buurtmunt", "db_password", "needs a user"),
        ("postgresql://buurtmunt@db/buurtmunt", "missing", "No such file"),
    ],
)
def test_a_password_file_that_cannot_be_used_is_refused_by_name(
    tmp_path: Path, url: str, file: str, says: str
) -> None:
    (tmp_path / "db_password").write_text("secret\n")
    env = {
        "BUURTMUNT_DATABASE_URL": url,
        "BUURTMUNT_DATABASE_PASSWORD_FILE": str(tmp_path / file),
    }

    with pytest.raises(SettingError, match=says) as refused:
        Settings.from_env(env)
    assert "BUURTMUNT_DATABASE_PASSWORD_FILE" in str(refused.value)
