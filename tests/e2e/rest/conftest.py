"""Fixtures for the REST-through-Envoy tests: the stack's addresses and
tokens, as tests/e2e/run exports them."""

import os

import pytest
import requests


@pytest.fixture(scope="session")
def envoy_url():
    return os.environ["ENVOY_URL"]


@pytest.fixture(scope="session")
def token():
    return os.environ["STEWARD_TEST_TOKEN"]


@pytest.fixture(scope="session")
def email():
    return os.environ["STEWARD_TEST_EMAIL"]


@pytest.fixture
def http():
    """A fresh session per test, so no cookie leaks from one test to the next."""
    with requests.Session() as session:
        yield session
