"""pytest fixtures shared by every test (registered from tests/conftest.py)."""
