"""Tuning the embedding model on the company's own questions: pairs, training, held-out scoring."""
