"""Every field spec of ../shared/conformance/fields.txt on every event of events.jsonl gives,
byte for byte and in order, what k8saudit 0.18.0 gave (expected.jsonl). The specs where this
project fixes a reference bug (ka.sourceips*, *eff_run_as_*) are tested in
test_extract_fixed_fields.py."""
import pytest

import conformance
from k8saudit_ovh_testing.hooks import Extractor

pytestmark = pytest.mark.usefixtures("shared_dir")


@pytest.fixture(scope="module")
def data():
    return conformance.load_events(), conformance.load_specs(), conformance.load_expected()


def _python_extract(**kw):
    x = Extractor()
    return lambda n, payload, specs: x.extract(payload, n, specs, **kw)


def test_data_is_complete(data):
    events, specs, expected = data
    assert len(events) == len(expected) == 985
    assert len(conformance.load_specs(include_fixed=True)) == 266
    assert len(specs) == 266 - sum(map(conformance.is_fixed_spec, conformance.load_specs(include_fixed=True)))


@pytest.mark.parametrize("mode", ["one field per call", "all fields in one call"])
def test_conformance(data, mode):
    events, specs, expected = data
    mismatches = conformance.compare(_python_extract(batch=mode != "one field per call"),
                                     events, specs, expected)
    assert not mismatches, conformance.report(mismatches)


def test_conformance_in_reverse_field_order(data):
    """No state carried from one field to the next changes a result."""
    events, specs, expected = data
    x = Extractor()
    mismatches = conformance.compare(lambda n, p, s: x.extract(p, n, list(reversed(s))), events, specs, expected)
    assert not mismatches, conformance.report(mismatches)


def test_compare_reports_mismatches(data):
    """The comparison itself catches a missing value, an extra value and a different value."""
    events, specs, expected = data
    x = Extractor()

    def broken(n, payload, s):
        got = x.extract(payload, n, s)
        if n == 1:
            got.pop("ka.verb")
            got["ka.uri.param[missing]"] = ["?"]
            got["ka.user.groups"] = list(reversed(got["ka.user.groups"]))
        return got

    mismatches = conformance.compare(broken, events, specs, expected, event_numbers=[1, 2])
    assert {(m.event, m.spec) for m in mismatches} == {
        (1, "ka.verb"), (1, "ka.uri.param[missing]"), (1, "ka.user.groups")}
    text = conformance.report(mismatches)
    assert "event 1 ka.verb: expected ['create'], got None" in text
