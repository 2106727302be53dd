"""The token bucket behind ``--rate-limit``, on a clock the tests set."""

from __future__ import annotations

import pytest

from runner.ratelimit import RateLimiter, retry_after


def test_a_burst_of_rate_requests_then_the_wait_for_the_next_token() -> None:
    limiter = RateLimiter(4)
    assert [limiter.acquire("src", now=10.0) for _ in range(4)] == [0.0] * 4
    assert limiter.acquire("src", now=10.0) == pytest.approx(0.25)
    # A quarter of a second later one token has come back, and only one.
    assert limiter.acquire("src", now=10.25) == 0.0
    assert limiter.acquire("src", now=10.25) == pytest.approx(0.25)


def test_a_refused_request_takes_no_token() -> None:
    limiter = RateLimiter(1)
    assert limiter.acquire("src", now=0.0) == 0.0
    waits = [limiter.acquire("src", now=t) for t in (0.2, 0.4, 0.6)]
    assert waits == pytest.approx([0.8, 0.6, 0.4])
    assert limiter.acquire("src", now=1.0) == 0.0


def test_an_idle_bucket_fills_to_its_capacity_and_no_further() -> None:
    limiter = RateLimiter(2)
    assert limiter.acquire("src", now=0.0) == 0.0
    # Idle for an hour: still a burst of 2, not of 7200.
    allowed = [limiter.acquire("src", now=3600.0) for _ in range(3)]
    assert allowed[:2] == [0.0, 0.0] and allowed[2] > 0


def test_each_key_has_its_own_bucket() -> None:
    limiter = RateLimiter(1)
    assert limiter.acquire("a", now=0.0) == 0.0
    assert limiter.acquire("a", now=0.0) > 0
    assert limiter.acquire("b", now=0.0) == 0.0


def test_a_rate_under_one_a_second_still_lets_one_request_through() -> None:
    limiter = RateLimiter(0.5)
    assert limiter.capacity == 1
    assert limiter.acquire("src", now=0.0) == 0.0
    assert limiter.acquire("src", now=0.0) == pytest.approx(2.0)


@pytest.mark.parametrize("rate", [0, -1])
def test_a_rate_that_is_not_positive_is_refused(rate: float) -> None:
    with pytest.raises(ValueError, match="rate must be positive"):
        RateLimiter(rate)


@pytest.mark.parametrize(("seconds", "header"), [(0.01, "1"), (1.0, "1"), (1.2, "2"),
                                                  (99.5, "100")])
def test_retry_after_is_whole_seconds_rounded_up_and_at_least_one(seconds: float,
                                                                 header: str) -> None:
    assert retry_after(seconds) == header
