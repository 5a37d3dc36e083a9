"""Fixtures of the run-directory tests: the trainer tests' small model."""

from tests.training.conftest import fake  # noqa: F401  (fixture)
