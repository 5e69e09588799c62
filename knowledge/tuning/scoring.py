"""How well a model finds each held-out question's passages among the whole knowledge base.

The same metrics as `evaluate_retrieval` (`knowledge.evaluation.score_ranking`), computed on
dense vectors alone: the model is what changed. The mean cosine similarity of matched versus
unmatched pairs shows whether tuning pulled questions towards their passages or merely
moved everything closer together.
"""

from collections.abc import Callable

import numpy as np

from knowledge.evaluation import mean_scores, score_ranking
from knowledge.tuning.pairs import Pair

DEPTH = 20


def score(encode: Callable[[list[str]], np.ndarray], heldout: list[Pair], corpus: list[str]) -> dict[str, float]:
    """`corpus`: every passage a question could be answered from; held-out passages are added."""
    passages = list(dict.fromkeys([*corpus, *(p.passage for p in heldout)]))
    position = {text: i for i, text in enumerate(passages)}
    relevant: dict[str, set[int]] = {}
    for pair in heldout:
        relevant.setdefault(pair.question, set()).add(position[pair.passage])
    if not relevant:
        return {}
    questions = list(relevant)
    similarity = encode(questions) @ encode(passages).T
    per_query, matched, unmatched = [], [], []
    for row, question in enumerate(similarity):
        wanted = relevant[questions[row]]
        top = np.argsort(-question, kind="stable")[:DEPTH]
        scores = score_ranking([[str(i)] if i in wanted else [] for i in top], {str(i): 1.0 for i in wanted})
        per_query.append({"recall@1": float(int(top[0]) in wanted), **scores})
        mask = np.zeros(len(passages), dtype=bool)
        mask[list(wanted)] = True
        matched.extend(question[mask].tolist())
        unmatched.append(float(question[~mask].mean()) if (~mask).any() else 0.0)
    result = {k: round(v, 4) for k, v in mean_scores(per_query).items()}
    result["cos_matched"] = round(float(np.mean(matched)), 4)
    result["cos_unmatched"] = round(float(np.mean(unmatched)), 4)
    result["cos_gap"] = round(result["cos_matched"] - result["cos_unmatched"], 4)
    return result
