"""The retry book: when a failed ISO is tried again (isodrop.retry)."""

from __future__ import annotations

from isodrop.retry import RetryBook, RetryPolicy


def test_retry_backoff_doubles_up_to_the_cap() -> None:
    policy = RetryPolicy(30, 3600)
    assert [policy.delay(n) for n in range(1, 10)] == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]
    assert policy.delay(10_000) == 3600


def test_retry_book_is_due_per_version_and_all_at_once_on_reload() -> None:
    now = [100.0]
    book = RetryBook(RetryPolicy(30, 3600), clock=lambda: now[0])
    version = ("a.iso", 10, 1)
    assert book.failed("a", version) == 30
    assert not book.due("a", version)
    assert book.due("a", ("a.iso", 11, 2)), "a changed ISO is tried at once"
    now[0] += 30
    assert book.due("a", version)
    assert book.failed("a", version) == 60
    assert book.pending() == {"a": (2, 190.0)} and book.next_due() == 190.0
    book.retry_all_now()
    assert book.due("a", version)
    assert book.next_due() == 0.0
