"""The ``buurtmunt`` command: serve, migrate, set up communities, people and tokens, demo.

Every subcommand sets ``func`` to a handler that takes the parsed arguments and
returns the exit status (0 done, 1 refused, 2 usage). Settings come from the
environment (``api.settings``), like the server's.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence

import asyncpg
from sqlalchemy.exc import DBAPIError

from api import (
    audit_commands,
    backup,
    bootstrap,
    limits,
    logs,
    metrics,
    provisioning,
    receipt_command,
    witness,
)
from api.access import Role
from api.problems import ProblemError
from api.provisioning import PersonDetails
from api.runtime import open_runtime
from api.schemas.common import rfc3339
from api.settings import SettingError, Settings
from ledger.audit.verify import EXIT_UNUSABLE
from ledger.keys import SigningKeyError, generate_key_file
from ledger.model import AccountType
from ledger.model import Settings as LedgerSettings

EXIT_OK, EXIT_REFUSED, EXIT_USAGE = 0, 1, 2
# How long uvicorn's supervisor waits for a worker to answer before it kills it and
# starts another. Its default (5 s) is less than a worker takes to import and start
# on a busy small machine, so every worker was killed before it could answer, forever.
WORKER_HEALTHCHECK_SECONDS = 60
# How long an idle connection stays open after an answer, for the client's next
# request. Longer than a reverse proxy's idle upstream connections live (nginx's
# and the common load balancers' 60 s), so that it is always the proxy that lets
# go of one: when the server closes a connection just as a request is sent on it,
# that request is lost with a reset (a 502 behind a proxy). Uvicorn's own default
# is 5 s, which a worker that falls behind on a busy machine can also run past.
KEEP_ALIVE_SECONDS = 75


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from api.protocol import HTTP_PROTOCOL

    if args.no_access_log:
        # For the worker processes too: each builds its app from the environment.
        os.environ["BUURTMUNT_REQUEST_LOG"] = "0"
    # X-Forwarded-For names the client only when a configured proxy sent it:
    # from anyone else it would let a client pick the address its lock-out counts.
    # The workers share the communities' writers between them (api.leases).
    os.environ["BUURTMUNT_WORKERS"] = str(args.workers)
    settings = Settings.from_env()
    trusted = settings.trusted_proxies
    logs.flush_at_sigterm()
    with metrics.shared_between_workers(args.workers):
        uvicorn.run(
            "api.app:app_from_environment",
            factory=True,
            host=args.host or settings.listen_host,
            port=settings.listen_port if args.port is None else args.port,
            workers=args.workers,
            proxy_headers=bool(trusted),
            forwarded_allow_ips=",".join(trusted) or None,
            timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
            timeout_keep_alive=KEEP_ALIVE_SECONDS,
            # The app logs each request itself (api.observe), as JSON.
            access_log=False,
            log_config=logs.logging_config(settings.log_level, request_log=settings.request_log),
            http=HTTP_PROTOCOL,
            h11_max_incomplete_event_size=limits.REQUEST_HEAD_BYTES_MAX,
        )
    return EXIT_OK


async def _db_upgrade(_: argparse.Namespace) -> int:
    async with open_runtime(Settings.from_env()):
        print("database is up to date")
    return EXIT_OK


async def _community_create(args: argparse.Namespace) -> int:
    async with open_runtime(Settings.from_env()) as rt:
        operator = await bootstrap.cli_operator(rt)
        assert operator.staff_id is not None
        row = await provisioning.create_community(
            rt,
            slug=args.slug,
            name=args.name or args.slug,
            currency_name=args.currency_name,
            settings=LedgerSettings(not args.no_member_transfers, args.cap_minutes),
            actor=operator.staff_id,
            plan=provisioning.community_plan(),
        )
        origin = await rt.ledger.origin(row.slug)
        print(f"community {row.slug}: account {row.community_account}, origin {origin}")
        print(f"verifier key: {(await rt.ledger.log_verifier(row.slug)).key_string()}")
    return EXIT_OK


async def _member_add(args: argparse.Namespace) -> int:
    async with open_runtime(Settings.from_env()) as rt:
        operator = await bootstrap.cli_operator(rt)
        assert operator.staff_id is not None
        details = PersonDetails(
            args.name, args.phone, args.email, args.language, args.neighbourhood
        )
        person, roles = await provisioning.create_person(
            rt, args.community, details, member=True, roles=[], actor=operator.staff_id,
            plan=provisioning.person_plan(True),
        )  # fmt: skip
        account = next(r.scope for r in roles if r.role == Role.MEMBER)
        print(f"person {person.id}, member account {account}")
        if not args.no_link:
            _, url = await provisioning.issue_enrolment_link(rt, person, operator.staff_id)
            print(f"enrolment link (valid 24 h, once): {url}")
    return EXIT_OK


async def _token(args: argparse.Namespace) -> int:
    role = Role(args.role)
    if (role is Role.OPERATOR) != (args.community is None):
        print("--community is required, except for --role operator", file=sys.stderr)
        return EXIT_USAGE
    async with open_runtime(Settings.from_env()) as rt:
        scope = ""
        if role is Role.COORDINATOR:
            scope = args.organisation or await bootstrap.first_scope(
                rt, args.community, AccountType.ORGANISATION
            )
        elif role is Role.SHOP:
            scope = args.shop or await bootstrap.first_scope(rt, args.community, AccountType.SHOP)
        person = await bootstrap.person_for_token(
            rt, role=role, community=args.community, person_id=args.person,
            account_id=args.account, name=args.name, scope=scope,
        )  # fmt: skip
        expires_at = provisioning.token_expires_at(rt.now_seconds(), args.expires_in_days)
        credential, token = await bootstrap.issue_token(rt, person, role, args.label, expires_at)
        expiry = f", expires {rfc3339(expires_at)}" if expires_at is not None else ""
        print(f"person {person.id}, token {credential.id} ({role.value}{expiry})", file=sys.stderr)
        print(token)
    return EXIT_OK


def _lifetime_days(value: str) -> int:
    days = int(value)
    if not 1 <= days <= limits.TOKEN_LIFETIME_DAYS_MAX:
        raise argparse.ArgumentTypeError(f"between 1 and {limits.TOKEN_LIFETIME_DAYS_MAX} days")
    return days


def _keys_generate(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    path = args.out or settings.signing_key_file
    try:
        verifier = generate_key_file(path, args.name or settings.host)
    except SigningKeyError as error:
        print(f"buurtmunt keys generate: {error}", file=sys.stderr)
        return EXIT_REFUSED
    print(f"signing key written to {path} (mode 0600); verifier key:", file=sys.stderr)
    print(verifier.key_string())
    return EXIT_OK


def _demo(args: argparse.Namespace) -> int:
    from api import demo

    return demo.run(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="buurtmunt", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve the API and pages")
    serve.add_argument("--host", help="default: BUURTMUNT_LISTEN_HOST or 127.0.0.1")
    serve.add_argument("--port", type=int, help="default: BUURTMUNT_LISTEN_PORT or 8000")
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument(
        "--no-access-log",
        action="store_true",
        help="no log line per request (as BUURTMUNT_REQUEST_LOG=0)",
    )
    serve.set_defaults(func=_serve)

    db = commands.add_parser("db", help="database maintenance").add_subparsers(
        dest="db", required=True
    )
    db.add_parser("upgrade", help="apply all migrations").set_defaults(run=_db_upgrade)

    community = commands.add_parser("community", help="communities")
    community_commands = community.add_subparsers(dest="community_command", required=True)
    create = community_commands.add_parser("create", help="create a community")
    create.add_argument("slug")
    create.add_argument("--name")
    create.add_argument("--currency-name", default="Buurtmunt")
    create.add_argument("--no-member-transfers", action="store_true")
    create.add_argument("--cap-minutes", type=int, help="monthly earning cap per member")
    create.set_defaults(run=_community_create)

    member = commands.add_parser("member", help="members")
    member_commands = member.add_subparsers(dest="member_command", required=True)
    add = member_commands.add_parser("add", help="register a resident with a member account")
    add.add_argument("--community", required=True)
    add.add_argument("--name", required=True)
    add.add_argument("--phone")
    add.add_argument("--email")
    add.add_argument("--language", default="nl", choices=["nl", "en", "tr", "ar"])
    add.add_argument("--neighbourhood")
    add.add_argument("--no-link", action="store_true", help="do not print an enrolment link")
    add.set_defaults(run=_member_add)

    token = commands.add_parser("token", help="issue an API token for a person and role")
    token.add_argument("--role", required=True, choices=[r.value for r in Role])
    token.add_argument("--community")
    who = token.add_mutually_exclusive_group()
    who.add_argument("--person", help="an existing person's id")
    who.add_argument("--account", help="an existing member account")
    who.add_argument("--name", help="create a new person with this name and role")
    token.add_argument("--organisation", help="for --role coordinator (default: the first)")
    token.add_argument("--shop", help="for --role shop (default: the first)")
    token.add_argument("--label", default="command line")
    token.add_argument(
        "--expires-in-days",
        type=_lifetime_days,
        help=f"refuse the token this many days from now (1-{limits.TOKEN_LIFETIME_DAYS_MAX}; "
        "default: it does not expire)",
    )
    token.set_defaults(run=_token)

    keys = commands.add_parser("keys", help="signing keys").add_subparsers(
        dest="keys", required=True
    )
    generate = keys.add_parser("generate", help="create a checkpoint signing key")
    generate.add_argument("--out", help="key file (default: BUURTMUNT_SIGNING_KEY_FILE)")
    generate.add_argument("--name", help="key name (default: the public host)")
    generate.set_defaults(func=_keys_generate)

    demo = commands.add_parser("demo", help="seed and serve a demo community")
    demo.add_argument("--seed-only", action="store_true", help="create the data and exit")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8000)
    demo.set_defaults(func=_demo)

    audit_commands.register(commands)
    receipt_command.register(commands)
    backup.register(commands)
    witness.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if hasattr(args, "run"):
            return int(asyncio.run(args.run(args)))
        return int(args.func(args))
    except ProblemError as problem:
        print(f"buurtmunt: {problem.code}: {problem.detail}", file=sys.stderr)
        return EXIT_REFUSED
    except (LookupError, SigningKeyError) as error:
        print(f"buurtmunt: {error}", file=sys.stderr)
        return EXIT_REFUSED
    except SettingError as error:
        print(f"buurtmunt: {error}", file=sys.stderr)
        return EXIT_USAGE
    except (DBAPIError, asyncpg.PostgresError, ConnectionError) as error:
        # No database there, or none by that name (make it first: docs/operations.md),
        # or it refuses the user: the driver's own words, not a traceback.
        said = str(getattr(error, "orig", None) or error).strip().splitlines()
        print(
            f"buurtmunt: the database: {said[0] if said else type(error).__name__}", file=sys.stderr
        )
        return EXIT_UNUSABLE


if __name__ == "__main__":
    sys.exit(main())
