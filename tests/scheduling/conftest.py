"""The scheduling tests on a real stack reuse the execution tests' anvil + processes fixture."""

from tests.execution.conftest import stack  # noqa: F401 - the same real stack fixture
