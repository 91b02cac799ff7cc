"""The traffic chapters' quiz block: at least six new questions for cloud networking
internals and for reliability engineering, and every predict question computes the
answer its explanation gives (the Maglev paper's Table 1, CloudFront's TTL rule, an LRU
trace, a leaf-spine fabric, BGP's hold timer, ECMP switched off)."""

from __future__ import annotations

import pytest

from cloudquest.game.chapters import load_quiz
from cloudquest.game.quiz import predict_answer
from cloudquest.game.schema import PredictQuestion

BANK = load_quiz()
BY_ID = {q.id: q for q in BANK.questions}
TRAFFIC = [q for q in BANK.questions if q.id.startswith(("net-", "rel-")) and q.id not in ("rel-failure-normal", "rel-capacity-error")]


def test_at_least_six_new_questions_for_networking_and_for_reliability():
    assert sum("cloud networking internals" in q.skills for q in TRAFFIC) >= 6
    assert sum("reliability engineering" in q.skills for q in TRAFFIC) >= 6


@pytest.mark.parametrize(
    "ident,answer",
    [
        ("net-maglev-slot", 0),  # b0, Table 1 after b1 is removed
        ("net-maglev-moved", 3),
        ("net-cloudfront-ttl-max", 300),
        ("net-cloudfront-ttl-smaxage", 900),
        ("net-lru-trace", 4),
        ("net-ecmp-paths", 6),
        ("rel-convergence-hold-timer", 91),
        ("rel-ecmp-off-loss", 20),
    ],
)
def test_predict_questions_compute_what_their_explanations_say(ident, answer):
    q = BY_ID[ident]
    assert isinstance(q, PredictQuestion)
    assert predict_answer(q) == answer
