"""pytest-benchmark suites over the conformance events (run: pytest benchmarks/):
(a) parse only: jdoc_parse in a nogil loop, and pysimdjson's Parser.parse from Python;
(b) the 33 fields of the official rules (benchmarks/rule_fields.txt), parse included;
(c) every spec of fields.txt, parse included.
Extraction runs like Falco: one extract_fields call per field, each event parsed once.
Each benchmark records events/s and ns per field call in extra_info; test_throughput_guards
measures the loops interleaved with simdjson's C++ DOM parse and checks guards.EXTENSION."""
import pytest

import bench_common
import c_host_bench
import guards



@pytest.fixture(autouse=True)
def _corpus():
    """Skipped (failed in CI) without the conformance corpus: see tests/conformance.py."""
    bench_common.conformance.require()


ITERATIONS = 5


@pytest.fixture(scope="module")
def payloads():
    return bench_common.load_payloads()


@pytest.fixture(scope="module")
def extractor():
    from k8saudit_ovh_testing.hooks import Extractor
    return Extractor()


def _record(benchmark, payloads, specs=()):
    events = len(payloads) * ITERATIONS
    ns_per_event = benchmark.stats.stats.min * 1e9 / events
    benchmark.extra_info["events_per_s"] = round(1e9 / ns_per_event)
    benchmark.extra_info["ns_per_event"] = round(ns_per_event, 1)
    if specs:
        benchmark.extra_info["ns_per_field_call"] = round(ns_per_event / len(specs), 2)


def test_parse_only_jsonidx(benchmark, extractor, payloads):
    benchmark(extractor.parse_only, payloads, ITERATIONS)
    _record(benchmark, payloads)


def test_parse_only_pysimdjson(benchmark, payloads):
    benchmark(bench_common.simdjson_parse_ns, payloads, ITERATIONS)
    _record(benchmark, payloads)


def test_extract_rule_fields(benchmark, extractor, payloads):
    specs = bench_common.load_rule_specs()
    assert len(specs) == 33
    benchmark(extractor.bench, payloads, specs, ITERATIONS)
    _record(benchmark, payloads, specs)


def test_extract_all_fields(benchmark, extractor, payloads):
    specs = bench_common.load_all_specs()
    benchmark(extractor.bench, payloads, specs, ITERATIONS)
    _record(benchmark, payloads, specs)


def test_throughput_guards(payloads, native):
    _, dom = native
    last = {}

    def measure():
        last["m"] = bench_common.measure(payloads, bench_common.load_rule_specs(),
                                         bench_common.load_all_specs(),
                                         dom_parse=lambda: c_host_bench.dom_parse_ns(dom))
        return bench_common.ns_per_event(last["m"])
    speeds, ns = guards.best_speeds(guards.EXTENSION, measure)
    print()
    print(bench_common.format_report(last["m"]))
    print(guards.report(guards.EXTENSION, speeds))
    assert guards.failures(guards.EXTENSION, speeds) == []
    assert guards.baseline_failure(ns) is None
