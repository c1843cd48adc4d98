"""Shared test set-up: the data mirror (as the Makefile sets it) and the browser for the book tests."""

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# Same rule as the Makefile: use ../shared/data as the local mirror when it exists.
if "CMSI_DATA_DIR" not in os.environ and (REPO.parent / "shared" / "data").is_dir():
    os.environ["CMSI_DATA_DIR"] = str((REPO.parent / "shared" / "data").resolve())

# CI runs the property tests with a fixed seed (reproducible); locally hypothesis explores freely.
from hypothesis import settings  # noqa: E402

settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """Debian's Chromium (never a downloaded browser), with the flags this offline machine needs."""
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    }


# Tests that build the galpy McMillan (2017) potential take about a minute (its module fixture):
# they are `slow`, so `make check` (-m "not book and not slow") stays within two minutes.
SLOW_FIXTURES = {"galpy_model"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def results(tmp_path, monkeypatch):
    """A temporary results folder (``cmsi_lib.paths.results_dir`` points there); returns it."""
    out = tmp_path / "results"
    out.mkdir()
    monkeypatch.setattr("cmsi_lib.paths.results_dir", lambda: out)
    return out
