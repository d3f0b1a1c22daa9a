"""How deeply a JSON body nests, measured before anything decodes it."""

from __future__ import annotations

import json

from api.bodies import nests_deeper_than


def test_a_shallow_body_is_within_the_bound() -> None:
    body = json.dumps({"payee": "mbr_x", "roles": [{"role": "admin"}]}).encode()
    assert not nests_deeper_than(body, 3)
    assert nests_deeper_than(body, 2)


def test_brackets_inside_strings_and_escapes_do_not_nest() -> None:
    body = json.dumps({"memo": '[[[{{{ \\" ]]] "[[', "x": ["[", "{"]}).encode()
    assert not nests_deeper_than(body, 2)
    assert nests_deeper_than(body, 1)


def test_many_siblings_are_not_depth() -> None:
    body = json.dumps([[1]] * 1_000).encode()
    assert not nests_deeper_than(body, 2)
    assert nests_deeper_than(body, 1)


def test_a_thousand_levels_are_caught_without_recursion() -> None:
    body = b"[" * 100_000 + b"]" * 100_000
    assert nests_deeper_than(body, 32)
    assert nests_deeper_than(b'{"a":' * 40 + b"1" + b"}" * 40, 32)
    assert not nests_deeper_than(b'{"a":' * 32 + b"1" + b"}" * 32, 32)


def test_escaped_quotes_and_backslashes_keep_strings_whole() -> None:
    inside = json.dumps({"a": 'say \\"[[[[' + "\\", "b": "\\\\" + "[" * 40}).encode()
    after = b'{"a": "\\\\", "b": ' + b"[" * 40 + b"1" + b"]" * 40 + b"}"
    assert not nests_deeper_than(inside, 1)
    assert nests_deeper_than(after, 32)
    assert not nests_deeper_than(after, 41)


def test_an_unterminated_string_hides_only_what_follows_it() -> None:
    assert nests_deeper_than(b"[" * 40 + b'"' + b"[" * 40, 32)
    assert not nests_deeper_than(b'["' + b"[" * 40, 32)
