"""The ``buurtmunt`` command as an operator runs it: in a process of its own beside a
running server, or, where a separate process adds only start-up time, in this one."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import sys
from collections.abc import Iterator

from api import cli
from tests.support.server import ROOT


async def buurtmunt(env: dict[str, str], *args: str) -> tuple[int, str]:
    """Run the ``buurtmunt`` command in a process of its own, as an operator would
    beside a running server: (exit status, output)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "api.cli", *args,
        env={**os.environ, **env}, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode()


@contextlib.contextmanager
def environment(env: dict[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for name, old in saved.items():
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old


def _main_here(env: dict[str, str], args: tuple[str, ...]) -> tuple[int, str]:
    out = io.StringIO()
    with environment(env), contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        status = cli.main(list(args))
    return status, out.getvalue()


async def buurtmunt_here(env: dict[str, str], *args: str) -> tuple[int, str]:
    """The same command in this process (a thread of its own), where a separate
    process adds only start-up time: (exit status, output)."""
    return await asyncio.to_thread(_main_here, env, args)
