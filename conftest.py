"""pytest configuration for both suites, tests/ and benchmarks/ (`make test` runs them together)."""
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))
import conformance  # noqa: E402


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Every skip for the missing ../shared corpus is reported at one place (conformance.py),
    so that pytest's summary folds them into one line instead of one per test."""
    outcome = yield
    rep = outcome.get_result()
    if rep.skipped and isinstance(rep.longrepr, tuple) and conformance.SKIP_PREFIX in rep.longrepr[2]:
        rep.longrepr = (conformance.__file__, 0, rep.longrepr[2])


@pytest.fixture(scope="session")
def native(tmp_path_factory):
    """(falco_host, parse_baseline) of the benchmark guards, compiled once per session: their
    baseline is simdjson's C++ DOM parse."""
    import c_host_bench
    return c_host_bench.build(tmp_path_factory.mktemp("native"))
