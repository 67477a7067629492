"""Text utilities shared by stages, vectorised over Arrow string columns (shingling, word splitting)."""
