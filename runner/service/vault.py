"""Setting values at rest: checked against a version's schema, secrets encrypted.

A source keeps its plain values in ``settings`` and its encrypted ones, as Fernet tokens,
in ``secrets``. Only this module puts values in or takes them out.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from runner.service import catalog
from runner.service.keyring import START_WITH_A_KEY, Keyring
from runner.service.problems import InvalidConfiguration
from runner.service.records import SourceRecord
from runner.service.settings_schema import SchemaError, SettingSpec, validate_values
from runner.store import Db


def encrypted_names(schema: Iterable[SettingSpec]) -> set[str]:
    return {spec.name for spec in schema if spec.encrypted}


def secret_strings(names: Iterable[str], values: dict[str, Any]) -> tuple[str, ...]:
    """Every string inside the values of these settings, to be redacted wherever seen."""
    found: list[str] = []
    for name in names:
        value = values.get(name)
        if value is not None:
            items = value.values() if isinstance(value, dict) else (
                value if isinstance(value, list) else [value])
            found.extend(str(item) for item in items if str(item))
    return tuple(found)


class Vault:
    """Reads and writes the setting values of sources with the operator's keyring."""

    def __init__(self, keyring: Keyring | None) -> None:
        self.keyring = keyring

    def values_of(self, source: SourceRecord) -> dict[str, Any]:
        """A source's setting values, secrets decrypted."""
        values = dict(source.settings)
        if source.secrets:
            if self.keyring is None:
                raise InvalidConfiguration("this service has no secret key to read the "
                                           "encrypted settings stored; " + START_WITH_A_KEY)
            values.update({name: self.keyring.decrypt(token)
                           for name, token in source.secrets.items()})
        return values

    def seal(self, schema: tuple[SettingSpec, ...], values: dict[str, Any]
             ) -> tuple[dict[str, Any], dict[str, str]]:
        """Check ``values`` against ``schema``; split them into plain and encrypted."""
        try:
            values = validate_values(schema, values)
        except SchemaError as exc:
            raise InvalidConfiguration(str(exc)) from None
        encrypted = encrypted_names(schema)
        if encrypted & set(values) and self.keyring is None:
            raise InvalidConfiguration(
                "this service has no secret key, so it cannot store encrypted settings; "
                + START_WITH_A_KEY)
        plain = {k: v for k, v in values.items() if k not in encrypted}
        sealed = {k: self.keyring.encrypt(v) for k, v in values.items()  # type: ignore[union-attr]
                  if k in encrypted}
        return plain, sealed

    def settle(self, schema: tuple[SettingSpec, ...], source: SourceRecord,
               changes: dict[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, str]]:
        """A source's values for ``schema``, ``changes`` merged (None removes a value).

        Values of settings ``schema`` lacks stay stored as they are, unchecked, so that
        deploying a version without a setting and rolling back keeps the setting's value.
        A changed name must be in the schema.
        """
        changes = changes or {}
        known = {spec.name for spec in schema} | set(changes)
        values = {k: v for k, v in {**self.values_of(source), **changes}.items()
                  if v is not None}
        plain, sealed = self.seal(schema, {k: v for k, v in values.items() if k in known})
        stored: dict[str, Any]
        for stored, kept in ((source.settings, plain), (source.secrets, sealed)):
            kept.update({k: v for k, v in stored.items() if k not in known})
        return plain, sealed


def rotate_secrets(db: Db, keyring: Keyring) -> int:
    """Re-encrypt every stored secret value under the keyring's first key; the count."""
    count = 0
    for source in catalog.list_sources(db):
        sealed = {name: keyring.rotate(token) for name, token in source.secrets.items()}
        count += len(sealed)
        catalog.update_source(db, source.id, secrets=sealed)
    return count
