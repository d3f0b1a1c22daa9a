"""Deployment settings: one frozen object, read once from the environment.

This is the only module that reads ``os.environ``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit

DEFAULT_DATABASE_URL = "sqlite:///var/buurtmunt.db"
DEFAULT_KEY_FILE = "var/signing.key"
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"
DEFAULT_REPLICA_LAG_MAX_SECONDS = 10.0


class SettingError(ValueError):
    """A setting in the environment that is not what it must be; says which."""


def _number(
    env: Mapping[str, str], name: str, parse: Callable[[str], float], default: float, minimum: float
) -> float:
    """The setting ``name`` as ``parse`` reads it, ``default`` when left out or blank;
    anything that does not read, is below ``minimum`` or is not finite is refused."""
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = parse(raw)
    except ValueError:
        value = math.nan
    if not minimum <= value < math.inf:
        what = "a whole number" if parse is int else "a number of seconds"
        raise SettingError(f"{name}={raw!r}: {what} from {minimum:g} is expected")
    return value


def _with_password(url: str, password: str | None) -> str:
    """``url`` with ``password`` for its user, if it names a user and no password; a
    PostgreSQL URL that names neither is refused, one with its own password kept."""
    if password is None or not url.startswith("postgresql"):
        return url
    parts = urlsplit(url)
    user, at, place = parts.netloc.rpartition("@")
    if not at or not user:
        raise SettingError(
            f"BUURTMUNT_DATABASE_PASSWORD_FILE needs a user in the database URL ({parts.scheme}"
            "://user@host/db)"
        )
    if ":" in user:
        return url
    netloc = f"{user}:{quote(password, safe='')}@{place}"
    return parts._replace(netloc=netloc).geturl()


def _password(env: Mapping[str, str]) -> str | None:
    """The database password from ``BUURTMUNT_DATABASE_PASSWORD_FILE`` (without the line
    break a file ends with), or None."""
    name = env.get("BUURTMUNT_DATABASE_PASSWORD_FILE") or None
    if name is None:
        return None
    try:
        return Path(name).read_text(encoding="utf-8").rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as error:
        raise SettingError(f"BUURTMUNT_DATABASE_PASSWORD_FILE={name!r}: {error}") from None


def _whole(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    return int(_number(env, name, int, default, minimum))


def _seconds(env: Mapping[str, str], name: str, default: float, minimum: float = 0.0) -> float:
    return _number(env, name, float, default, minimum)


def _list(value: str) -> tuple[str, ...]:
    """A comma-separated setting, without blanks. (Not stripped of a trailing '/': a
    verifier key's base64 may end in one.)"""
    return tuple(item.strip() for item in value.split(",") if item.strip())


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    # A streaming replica of a PostgreSQL primary, for reads that may lag (api.replica),
    # and how long it may replay nothing while the primary holds more before it is not read.
    read_database_url: str | None = None
    read_replica_lag_max_seconds: float = DEFAULT_REPLICA_LAG_MAX_SECONDS
    # The checkpoint signing key: the value itself (BUURTMUNT_SIGNING_KEY) wins
    # over the file (BUURTMUNT_SIGNING_KEY_FILE, mode 0600).
    signing_key: str | None = None
    signing_key_file: str = DEFAULT_KEY_FILE
    public_url: str = DEFAULT_PUBLIC_URL
    # Earnings above this many minutes need a second coordinator's approval.
    approval_threshold_minutes: int = 8 * 60
    # Cookies marked Secure only when served over https.
    debug: bool = False
    rate_limit_per_minute: int = 30
    # A shop's payment request (and a member's "pay me" code) is payable this long.
    payment_request_seconds: int = 10 * 60
    # A shop may refund a payment it took up to this many days later.
    refund_window_days: int = 14
    # The ledger remembers each request's Idempotency-Key this many days (0: for ever);
    # a retry after that is a new request.
    idempotency_key_retention_days: int = 30
    # An open payment request's event stream sends a heartbeat this often.
    event_heartbeat_seconds: float = 15.0
    # Server logs: JSON lines at this level; one line per request unless turned off.
    log_level: str = "INFO"
    request_log: bool = True
    # Web origins whose pages may call the API from a browser (CORS); none: same origin only.
    cors_origins: tuple[str, ...] = ()
    # Peers (addresses or networks) whose X-Forwarded-For names the client; none: no one's.
    trusted_proxies: tuple[str, ...] = ()
    # Where ``buurtmunt serve`` listens unless --host/--port say otherwise.
    listen_host: str = "127.0.0.1"
    listen_port: int = 8000
    # Witnesses asked to cosign each checkpoint: "<url> <witness vkey>" each,
    # comma-separated (BUURTMUNT_WITNESSES); one that fails is asked again this often.
    witnesses: tuple[str, ...] = ()
    # Verifier keys of signing keys this deployment used before (after a rotation),
    # comma-separated (BUURTMUNT_RETIRED_VERIFIER_KEYS): the audit and the statements
    # open checkpoints those keys signed.
    retired_verifier_keys: tuple[str, ...] = ()
    witness_retry_seconds: float = 5.0
    witness_timeout_seconds: float = 5.0
    # The checkpoint cadence (ledger.cadence): a batch signs the head only when the
    # last checkpoint is this old (0: every batch) or this many entries behind.
    checkpoint_interval_seconds: float = 1.0
    checkpoint_entries_step: int = 10_000
    # Worker processes serving this database on this host (``buurtmunt serve
    # --workers`` sets it for them): with more than one, each community is written
    # by the process holding its lease (api.leases), which meet in ``lease_directory``.
    workers: int = 1
    # PostgreSQL connections each worker keeps (None: 32, and 16 more in bursts); every
    # worker's pool counts against the server's max_connections.
    database_pool_size: int | None = None
    lease_directory: str | None = None

    @property
    def host(self) -> str:
        """The public host, used as the checkpoint origin's prefix and key name."""
        return urlsplit(self.public_url).netloc or "localhost"

    @property
    def secure_cookies(self) -> bool:
        return self.public_url.startswith("https://")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        password = _password(env)
        read_url = env.get("BUURTMUNT_READ_DATABASE_URL") or None
        return cls(
            database_url=_with_password(
                env.get("BUURTMUNT_DATABASE_URL", DEFAULT_DATABASE_URL), password
            ),
            read_database_url=None if read_url is None else _with_password(read_url, password),
            read_replica_lag_max_seconds=_seconds(
                env, "BUURTMUNT_READ_REPLICA_LAG_MAX_SECONDS", DEFAULT_REPLICA_LAG_MAX_SECONDS, 0.1
            ),
            signing_key=env.get("BUURTMUNT_SIGNING_KEY") or None,
            signing_key_file=env.get("BUURTMUNT_SIGNING_KEY_FILE", DEFAULT_KEY_FILE),
            public_url=env.get("BUURTMUNT_PUBLIC_URL", DEFAULT_PUBLIC_URL).rstrip("/"),
            approval_threshold_minutes=_whole(env, "BUURTMUNT_APPROVAL_THRESHOLD_MINUTES", 480),
            debug=env.get("BUURTMUNT_DEBUG", "") == "1",
            rate_limit_per_minute=_whole(env, "BUURTMUNT_RATE_LIMIT_PER_MINUTE", 30, 1),
            payment_request_seconds=_whole(env, "BUURTMUNT_PAYMENT_REQUEST_SECONDS", 600, 1),
            refund_window_days=_whole(env, "BUURTMUNT_REFUND_WINDOW_DAYS", 14),
            idempotency_key_retention_days=_whole(
                env, "BUURTMUNT_IDEMPOTENCY_KEY_RETENTION_DAYS", 30
            ),
            event_heartbeat_seconds=_seconds(env, "BUURTMUNT_EVENT_HEARTBEAT_SECONDS", 15, 0.1),
            log_level=env.get("BUURTMUNT_LOG_LEVEL", "INFO").upper(),
            request_log=env.get("BUURTMUNT_REQUEST_LOG", "1") != "0",
            cors_origins=tuple(o.rstrip("/") for o in _list(env.get("BUURTMUNT_CORS_ORIGINS", ""))),
            trusted_proxies=_list(env.get("BUURTMUNT_TRUSTED_PROXIES", "")),
            listen_host=env.get("BUURTMUNT_LISTEN_HOST", "127.0.0.1"),
            listen_port=_whole(env, "BUURTMUNT_LISTEN_PORT", 8000),
            witnesses=_list(env.get("BUURTMUNT_WITNESSES", "")),
            retired_verifier_keys=_list(env.get("BUURTMUNT_RETIRED_VERIFIER_KEYS", "")),
            witness_retry_seconds=_seconds(env, "BUURTMUNT_WITNESS_RETRY_SECONDS", 5, 0.1),
            witness_timeout_seconds=_seconds(env, "BUURTMUNT_WITNESS_TIMEOUT_SECONDS", 5, 0.1),
            checkpoint_interval_seconds=_seconds(env, "BUURTMUNT_CHECKPOINT_INTERVAL_SECONDS", 1),
            checkpoint_entries_step=_whole(env, "BUURTMUNT_CHECKPOINT_ENTRIES_STEP", 10_000, 1),
            workers=_whole(env, "BUURTMUNT_WORKERS", 1, 1),
            database_pool_size=_whole(env, "BUURTMUNT_DATABASE_POOL_SIZE", 0, 1) or None,
            lease_directory=env.get("BUURTMUNT_LEASE_DIRECTORY") or None,
        )

    def sqlite_path(self) -> Path | None:
        if not self.database_url.startswith("sqlite"):
            return None
        return Path(self.database_url.split(":///", 1)[1])
