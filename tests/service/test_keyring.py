"""Secret setting values encrypted at rest, and the rotation of the keys."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from runner.service.keyring import Keyring, KeyringError, generate_key, load_keyring

KEY_A = generate_key()
KEY_B = generate_key()


@pytest.mark.parametrize("value", ["s3cret", "", 42, 2.5, True, None, ["a", "b"],
                                   {"X-Api-Key": "k", "é": "ü"}])
def test_values_round_trip(value: Any) -> None:
    keyring = Keyring.from_text(KEY_A)
    token = keyring.encrypt(value)
    assert isinstance(token, str)
    assert keyring.decrypt(token) == value
    assert type(keyring.decrypt(token)) is type(value)


def test_tokens_hide_the_value_and_differ_each_time() -> None:
    keyring = Keyring.from_text(KEY_A)
    first, second = keyring.encrypt("hunter2"), keyring.encrypt("hunter2")
    assert first != second
    assert "hunter2" not in first


def test_generated_keys_are_fresh_fernet_keys() -> None:
    assert KEY_A != KEY_B
    assert len(KEY_A) == 44 and KEY_A.endswith("=")


def test_rotation_from_a_to_b() -> None:
    old = Keyring.from_text(KEY_A)
    token = old.encrypt({"apiKey": "k"})
    rotating = Keyring.from_text(f"{KEY_B},{KEY_A}")
    assert rotating.decrypt(token) == {"apiKey": "k"}
    rotated = rotating.rotate(token)
    assert Keyring.from_text(KEY_B).decrypt(rotated) == {"apiKey": "k"}
    with pytest.raises(KeyringError, match="does not decrypt a stored value"):
        Keyring.from_text(KEY_A).decrypt(rotated)
    with pytest.raises(KeyringError, match="does not decrypt a stored value"):
        Keyring.from_text(KEY_B).decrypt(token)


def test_the_first_key_encrypts() -> None:
    token = Keyring.from_text(f"{KEY_B} , {KEY_A}").encrypt("v")
    assert Keyring.from_text(KEY_B).decrypt(token) == "v"
    with pytest.raises(KeyringError):
        Keyring.from_text(KEY_A).decrypt(token)


@pytest.mark.parametrize("separator", [",", " ", "\n", ",\n  ", "\t,"])
def test_keys_are_separated_by_commas_or_whitespace(separator: str) -> None:
    keyring = Keyring.from_text(f"  {KEY_B}{separator}{KEY_A}\n")
    assert keyring.decrypt(Keyring.from_text(KEY_A).encrypt(1)) == 1
    assert keyring.fingerprint == Keyring.from_text(KEY_B).fingerprint


def test_rotating_a_token_no_key_opens_fails() -> None:
    with pytest.raises(KeyringError, match="'new,old' while rotating"):
        Keyring.from_text(KEY_B).rotate(Keyring.from_text(KEY_A).encrypt("v"))


@pytest.mark.parametrize("token", ["", "not a token", "gAAAAA", "é"])
def test_garbage_tokens_are_keyring_errors(token: str) -> None:
    with pytest.raises(KeyringError, match="does not decrypt"):
        Keyring.from_text(KEY_A).decrypt(token)


def test_fingerprint_is_short_stable_and_not_the_key() -> None:
    keyring = Keyring.from_text(KEY_A)
    assert keyring.fingerprint == Keyring.from_text(KEY_A).fingerprint
    assert keyring.fingerprint != Keyring.from_text(KEY_B).fingerprint
    assert len(keyring.fingerprint) == 12 and int(keyring.fingerprint, 16) >= 0
    assert keyring.fingerprint not in KEY_A
    assert KEY_A not in repr(keyring) and keyring.fingerprint in repr(keyring)


@pytest.mark.parametrize(("text", "which"), [
    ("not-a-key-at-all-but-long-and-secretish", "secret key 1 of 1"),
    (KEY_A[:-2], "secret key 1 of 1"),
    (KEY_A + "AAAA", "secret key 1 of 1"),
    (f"{KEY_A},{KEY_B[:20]}secretish", "secret key 2 of 2"),
    ("é" * 44, "secret key 1 of 1"),
])
def test_malformed_keys_say_what_a_key_is_without_echoing_it(text: str, which: str) -> None:
    with pytest.raises(KeyringError) as raised:
        Keyring.from_text(text)
    message = str(raised.value)
    assert message.startswith(f"{which} is malformed")
    assert "44 characters" in message and "segfn admin generate-key" in message
    assert "secretish" not in message and KEY_A[:10] not in message
    assert raised.value.__cause__ is None and raised.value.__context__ is None


@pytest.mark.parametrize("text", ["", "  ", " , ,\n"])
def test_no_key_is_an_error(text: str) -> None:
    with pytest.raises(KeyringError, match="no secret key given.*generate-key"):
        Keyring.from_text(text)


def test_load_keyring_reads_the_key_file(tmp_path: Path) -> None:
    key_file = tmp_path / "secret.key"
    key_file.write_text(f"{KEY_B}\n{KEY_A}\n")
    keyring = load_keyring({"SEGFN_SECRET_KEY": KEY_A}, key_file)
    assert keyring is not None
    assert keyring.fingerprint == Keyring.from_text(KEY_B).fingerprint


def test_load_keyring_uses_the_environment_without_a_file() -> None:
    keyring = load_keyring({"SEGFN_SECRET_KEY": f" {KEY_A} "}, None)
    assert keyring is not None and keyring.fingerprint == Keyring.from_text(KEY_A).fingerprint


@pytest.mark.parametrize("environ", [{}, {"SEGFN_SECRET_KEY": ""}, {"SEGFN_SECRET_KEY": " \n"},
                                     {"OTHER": KEY_A}])
def test_load_keyring_without_a_key_is_none(environ: dict[str, str]) -> None:
    assert load_keyring(environ, None) is None


def test_an_unreadable_key_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "missing.key"
    with pytest.raises(KeyringError, match=f"cannot read the secret key file {missing}: No such"):
        load_keyring({"SEGFN_SECRET_KEY": KEY_A}, missing)
    with pytest.raises(KeyringError, match="cannot read the secret key file"):
        load_keyring({}, tmp_path)
    binary = tmp_path / "binary.key"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(KeyringError, match="binary.key: not UTF-8 text"):
        load_keyring({}, binary)


def test_bad_keys_name_where_they_came_from(tmp_path: Path) -> None:
    key_file = tmp_path / "secret.key"
    key_file.write_text("oops-a-password\n")
    with pytest.raises(KeyringError, match=f"^key file {key_file}: secret key 1 of 1") as raised:
        load_keyring({}, key_file)
    assert "oops-a-password" not in str(raised.value)
    empty = tmp_path / "empty.key"
    empty.write_text("\n")
    with pytest.raises(KeyringError, match="empty.key: no secret key given"):
        load_keyring({"SEGFN_SECRET_KEY": KEY_A}, empty)
    with pytest.raises(KeyringError, match="^SEGFN_SECRET_KEY: secret key 2 of 2 is malformed"):
        load_keyring({"SEGFN_SECRET_KEY": f"{KEY_A},hunter2"}, None)
