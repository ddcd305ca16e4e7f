"""Encoded answers kept per version: never given under another, the oldest dropped past the budget."""

from __future__ import annotations

from protocol.answers import Answers, params_key


def test_an_answer_is_given_only_under_its_version() -> None:
    answers = Answers(1000)
    key = params_key({"query": "x", "limit": 10})
    assert answers.get(1, key) is None
    answers.put(1, key, b'{"a":1}')
    assert answers.get(1, params_key({"limit": 10, "query": "x"})) == b'{"a":1}'
    assert answers.get(2, key) is None  # a write: everything kept before is forgotten
    answers.put(1, key, b'{"a":1}')  # an answer read before the write is not kept
    assert answers.get(2, key) is None and len(answers) == 0


def test_the_least_recently_used_go_first_past_the_budget() -> None:
    answers = Answers(3 * (10 + 3))
    answers.get(1, b"")
    for k in (b"aaa", b"bbb", b"ccc"):
        answers.put(1, k, b"x" * 10)
    assert answers.get(1, b"aaa") is not None  # now the most recent
    answers.put(1, b"ddd", b"y" * 10)
    assert answers.get(1, b"bbb") is None
    assert [answers.get(1, k) is not None for k in (b"aaa", b"ccc", b"ddd")] == [True, True, True]
    answers.put(1, b"big", b"z" * 100)  # larger than the whole budget: not kept, nothing dropped
    assert answers.get(1, b"big") is None and len(answers) == 3
