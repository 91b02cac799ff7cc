"""The operations chapters' quiz block: at least six new questions for scaling
automation, and every predict question computes the answer its explanation gives (the
EC2 Auto Scaling User Guide's step example, MinAdjustmentMagnitude, the Kubernetes HPA
rule, EC2's per-second billing with its 60-second minimum, S3's storage tiers)."""

from __future__ import annotations

import pytest

from cloudquest.game.chapters import load_quiz
from cloudquest.game.quiz import predict_answer
from cloudquest.game.schema import PredictQuestion

BANK = load_quiz()
BY_ID = {q.id: q for q in BANK.questions}
OPS = [q for q in BANK.questions if q.id.startswith("ops-")]


def test_at_least_six_new_questions_for_scaling_automation_some_computed():
    assert sum("scaling automation" in q.skills for q in OPS) >= 6
    assert sum(isinstance(q, PredictQuestion) for q in OPS) >= 4


@pytest.mark.parametrize(
    "ident,answer",
    [
        ("ops-step-percent", 14),  # 10 -> 11 (+10 % of 10) -> 14 (+30 % of 11 = 3.3 -> 3)
        ("ops-min-magnitude", 6),  # 25 % of 4 = 1, at least 2
        ("ops-hpa", 7),  # ceil(4 x 80 / 50)
        ("ops-bill-seconds", round((60 + 7200) / 3600 * 0.1664, 4)),
        ("ops-bill-s3", round(51_200 * 0.023 + 10_240 * 0.022, 2)),
    ],
)
def test_predict_questions_compute_what_their_explanations_say(ident, answer):
    q = BY_ID[ident]
    assert isinstance(q, PredictQuestion)
    assert predict_answer(q) == pytest.approx(answer, abs=q.tolerance or 1e-9)
