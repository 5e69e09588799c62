from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from knowledge import embedding


def test_questions_encoded_together_get_their_own_vectors():
    questions = [f"How many days of leave do I get in year {i}?" for i in range(24)] + ["TOIL", "Parking rules"]
    with ThreadPoolExecutor(max_workers=12) as pool:
        together = list(pool.map(lambda q: embedding.encode_together([q])[0], questions))
    alone = embedding.encode(questions)
    assert np.allclose(np.stack(together), alone, atol=1e-4)
    assert len({tuple(np.round(v, 4)) for v in together}) == len(questions)


def test_a_failed_batch_wakes_every_caller_with_the_error():
    with pytest.raises(ValueError, match="Unsupported input type"):
        embedding.encode_together([None])  # type: ignore[list-item]
    assert embedding.encode_together(["still works"]).shape == (1, embedding.DIMENSIONS)
