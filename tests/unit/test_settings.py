"""Settings read from the environment: the comma-separated ones."""

from __future__ import annotations

from api.settings import Settings


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
