from datetime import UTC, datetime, timedelta, timezone

import pytest

from segfn.errors import ValidationError
from segfn.identities import anonymous_id, iso_timestamp, normalize_email


def test_normalize_email():
    assert normalize_email("  Ada@Example.COM ") == "ada@example.com"
    for bad in ("", "not an email", None, {"email": "a@b.c"}):
        with pytest.raises(ValidationError, match="not an email address"):
            normalize_email(bad)


def test_anonymous_id_is_stable_and_normalized():
    assert anonymous_id("Ada@Example.com ") == anonymous_id("ada@example.com")
    assert anonymous_id("ada@example.com") != anonymous_id("bob@example.com")
    assert len(anonymous_id("ada@example.com")) == 36


@pytest.mark.parametrize(("value", "expected"), [
    (1561487054, "2019-06-25T18:24:14.000Z"),
    (1561487054.5, "2019-06-25T18:24:14.500Z"),
    (1561487054123, "2019-06-25T18:24:14.123Z"),
    ("1561487054", "2019-06-25T18:24:14.000Z"),
    ("2019-06-27T16:37:05Z", "2019-06-27T16:37:05.000Z"),
    ("2019-06-27T14:12:45-04:00", "2019-06-27T18:12:45.000Z"),
    ("2019-06-27T16:37:05", "2019-06-27T16:37:05.000Z"),
    ("2016-04-28T11:21:31.151Z", "2016-04-28T11:21:31.151Z"),
    (datetime(2024, 1, 2, 3, 4, 5), "2024-01-02T03:04:05.000Z"),
    (datetime(2024, 1, 2, 5, 4, 5, tzinfo=timezone(timedelta(hours=2))),
     "2024-01-02T03:04:05.000Z"),
    (datetime(2024, 1, 2, 3, 4, 5, 678900, tzinfo=UTC), "2024-01-02T03:04:05.678Z"),
])
def test_iso_timestamp(value, expected):
    assert iso_timestamp(value) == expected


@pytest.mark.parametrize("value", [True, None, "yesterday", "2018-19-12T22:20:32.000Z", [1]])
def test_iso_timestamp_refuses(value):
    with pytest.raises(ValidationError, match="not a timestamp"):
        iso_timestamp(value)
