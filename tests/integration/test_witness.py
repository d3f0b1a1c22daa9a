"""The witness's checks and its SQLite record, called directly (HTTP is in tests/e2e)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from api.cli import main
from api.witness import Witness, WitnessStore
from ledger.cosignature import AddCheckpoint, CosignatureVerifier, Cosigner, generate_cosigner
from ledger.keys import read_key_file
from ledger.note import generate_signer
from tests.support.logs import TinyLog

ORIGIN = "buurt.example/oost"


@pytest.fixture
def log() -> TinyLog:
    return TinyLog(ORIGIN, generate_signer("buurt.example"))


def a_witness(path: Path, log: TinyLog, now: float = 1_790_000_000) -> Witness:
    return Witness(
        generate_cosigner("witness.gemeente.example"),
        {ORIGIN: log.signer.verifier()},
        WitnessStore(path / "witness.db"),
        clock=lambda: now,
    )


def post(witness: Witness, request: AddCheckpoint) -> tuple[int, str]:
    answer = witness.add_checkpoint(request.encode().encode())
    return answer.status, answer.body


def test_honest_growth_is_cosigned_step_by_step(tmp_path: Path, log: TinyLog) -> None:
    witness = a_witness(tmp_path, log)
    verifier = witness.cosigner.verifier()
    old = 0
    for count in (1, 2, 5, 1, 8):
        log.grow(count)
        status, body = post(witness, log.request(old))
        assert status == 200, body
        assert verifier.cosignature_on(log.note() + body).timestamp == 1_790_000_000
        old = len(log.leaves)
    assert witness.store.recorded(ORIGIN).size == 17


def test_the_same_checkpoint_again_is_cosigned_again(tmp_path: Path, log: TinyLog) -> None:
    witness = a_witness(tmp_path, log)
    log.grow(3)
    assert post(witness, log.request(0))[0] == 200
    assert post(witness, log.request(3))[0] == 200


def test_a_stale_old_size_gets_409_with_the_recorded_size(tmp_path: Path, log: TinyLog) -> None:
    witness = a_witness(tmp_path, log)
    log.grow(4)
    post(witness, log.request(0))
    log.grow(2)
    answer = witness.add_checkpoint(log.request(0).encode().encode())
    assert (answer.status, answer.body, answer.media_type) == (409, "4\n", "text/x.tlog.size")


def test_a_rollback_is_refused(tmp_path: Path, log: TinyLog) -> None:
    witness = a_witness(tmp_path, log)
    log.grow(6)
    post(witness, log.request(0))
    assert post(witness, log.request(3, 3))[0] == 409
    assert post(witness, AddCheckpoint(6, (), log.note(3)))[0] == 400
    assert witness.store.recorded(ORIGIN).size == 6


def test_a_fork_of_the_recorded_size_is_refused_and_shown(tmp_path: Path, log: TinyLog) -> None:
    witness = a_witness(tmp_path, log)
    log.grow(5)
    post(witness, log.request(0))
    forked = log.fork_at(2, "forged")
    status, _ = post(witness, forked.request(5))
    assert status == 422
    fork = witness.status()["forks"][0]
    assert (fork["origin"], fork["size"]) == (ORIGIN, 5)
    assert witness.store.recorded(ORIGIN).root == log.root(5)


def test_a_longer_fork_fails_its_consistency_proof(tmp_path: Path, log: TinyLog) -> None:
    witness = a_witness(tmp_path, log)
    log.grow(5)
    post(witness, log.request(0))
    forked = log.fork_at(2, "forged").grow(3, "more")
    good_proof = log.grow(3).request(5).proof
    assert post(witness, AddCheckpoint(5, good_proof, forked.note()))[0] == 422
    assert post(witness, forked.request(5))[0] == 422
    assert witness.store.recorded(ORIGIN).size == 5


def test_a_non_empty_proof_from_size_zero_is_refused(tmp_path: Path, log: TinyLog) -> None:
    witness = a_witness(tmp_path, log)
    log.grow(2)
    assert post(witness, AddCheckpoint(0, (b"\0" * 32,), log.note()))[0] == 422


def test_an_unknown_log_is_404_and_a_foreign_signature_403(tmp_path: Path, log: TinyLog) -> None:
    witness = a_witness(tmp_path, log)
    log.grow(2)
    other = TinyLog("elsewhere.example/x", log.signer).grow(2)
    assert post(witness, other.request(0))[0] == 404
    impostor = TinyLog(ORIGIN, generate_signer("buurt.example")).grow(2)
    assert post(witness, impostor.request(0))[0] == 403


@pytest.mark.parametrize(
    "body", [b"\xff\xfe", b"old 1\n", f"old 0\n\n{ORIGIN}\nnot a note\n".encode()]
)
def test_a_malformed_request_is_400(tmp_path: Path, log: TinyLog, body: bytes) -> None:
    assert a_witness(tmp_path, log).add_checkpoint(body).status == 400


def test_the_record_survives_a_restart(tmp_path: Path, log: TinyLog) -> None:
    witness = a_witness(tmp_path, log)
    log.grow(7)
    post(witness, log.request(0))
    witness.store.close()
    again = a_witness(tmp_path, log)
    assert again.store.recorded(ORIGIN).size == 7
    assert post(again, log.request(0))[0] == 409


def test_witness_key_writes_a_private_key_once_and_prints_its_verifier_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "keys" / "witness.key"
    assert main(["witness", "key", "--name", "witness.gemeente.example", "--out", str(path)]) == 0
    printed = capsys.readouterr().out.strip()
    cosigner = Cosigner.from_key_string(read_key_file(path))
    assert printed == cosigner.verifier().key_string()
    assert CosignatureVerifier.from_key_string(printed).name == "witness.gemeente.example"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert main(["witness", "key", "--name", "other", "--out", str(path)]) == 1
