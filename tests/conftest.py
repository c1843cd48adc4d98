"""Shared test set-up: the data mirror (as the Makefile sets it) and the browser for the book tests."""

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# Under pytest-xdist (`make test` runs two workers on two cores) each worker is one CPU's worth of work:
# OpenBLAS's second thread only competes with the other worker (the joint MAPs' small dense algebra
# took 15 % more CPU with it). Set before anything imports numpy; inherited by the pages, kernels and
# Dask workers the tests start. A serial run keeps OpenBLAS's default.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

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


# pytest-xdist (`make test`: two workers, `--dist loadfile`). Each test module is one unit of work, so a
# module fixture is computed once per run as in a serial run, and the two Milky Way modules are one unit:
# their galpy tests share McMillan17 (mcmillan17() and baryonic_components() are cached per process).
# (xdist's `loadgroup` cannot do this with pytest 9: it renames `item._nodeid`, which pytest 9 no longer reads.)
SAME_UNIT = {"tests/test_milky_way_baryons.py": "tests/test_milky_way.py"}
# The units known to take longest (measured 2026-12-07), started first so that no worker is left with a
# long unit at the end: xdist (`--no-loadscope-reorder`) hands the units out in the order the workers
# collected them. A unit not named here keeps its collection order after these. Only the order of the
# run depends on this list: a stale entry costs balance, never a result.
LONGEST_FIRST = (
    "tests/test_jointfit.py",  # the blind recovery from 7 starts
    "tests/test_book.py",  # the browser
    "tests/test_milky_way.py",  # with test_milky_way_baryons.py: galpy's McMillan17
    "tests/test_joint_survey.py",
    # before the posterior's (the only module that imports JAX), as in a serial run: its Ctrl-C test forks
    # a subprocess (preexec_fn), which JAX's threads make unsafe in the same worker
    "tests/test_faults.py",
    "tests/test_posterior.py",
    "tests/test_audit.py",
    "tests/test_book_cache.py",
    "tests/test_cli_cache.py",
    "tests/test_page_engine.py",
    "tests/test_runner.py",
    "tests/test_injection.py",
)


def work_unit(nodeid: str) -> str:
    """The unit of work a test belongs to under `make test`'s xdist: its module, or the module it shares one with."""
    module = nodeid.split("::")[0]
    return SAME_UNIT.get(module, module)


def pytest_collection_modifyitems(config, items):
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
    if hasattr(config, "workerinput"):  # an xdist worker: the longest units first (serial runs: collection order)
        rank = {unit: i for i, unit in enumerate(LONGEST_FIRST)}
        items.sort(key=lambda item: rank.get(work_unit(item.nodeid), len(rank)))  # stable: modules stay whole


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """`--dist loadfile` with ``SAME_UNIT``'s modules merged; other --dist modes are xdist's own."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class Units(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

    return Units(config, log)


@pytest.fixture
def results(tmp_path, monkeypatch):
    """A temporary results folder (``cmsi_lib.paths.results_dir`` points there); returns it."""
    out = tmp_path / "results"
    out.mkdir()
    monkeypatch.setattr("cmsi_lib.paths.results_dir", lambda: out)
    return out
