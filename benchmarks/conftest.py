"""The native programs of the benchmarks (tests/host/falco_host.c and parse_baseline.cpp), built
once per session: both the extension and the C-host guards time against parse_baseline."""
from pathlib import Path

import pytest

import bench_common


@pytest.fixture(scope="session")
def native(tmp_path_factory) -> tuple[str, str]:
    """(falco_host, parse_baseline) executables."""
    if not bench_common.available():
        pytest.skip("conformance events not found")
    import c_host_bench
    return c_host_bench.build(Path(tmp_path_factory.mktemp("native")))
