"""The init config keys have one definition (config.TABLE): the schema header the library
publishes, the Config defaults and the README's table all follow it."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from k8saudit_ovh import config

REPO = Path(__file__).resolve().parents[2]


def _header_schema(text: str) -> dict:
    literal = "".join(re.findall(r'^"(.*)"\s*;?\s*$', text, re.M))
    return json.loads(literal.replace('\\"', '"').replace("\\\\", "\\"))


def test_schema_header_is_generated_from_the_table():
    text = (REPO / "include" / "k8saudit_config_schema.h").read_text()
    assert text == config.schema_header(), "run scripts/gen-config-schema.py"
    assert _header_schema(text) == config.schema()
    r = subprocess.run([sys.executable, str(REPO / "scripts" / "gen-config-schema.py"), "--check"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_defaults_come_from_the_table():
    c = config.parse("{}")
    for k in config.TABLE:
        assert getattr(c, k.attr) == k.default, k.name
        assert f"(default " in config.schema()["properties"][k.name]["description"]
    assert c.ldp_replay is True                # gap-free unless turned off


@pytest.mark.parametrize("key", [k for k in config.TABLE if k.lo is not None], ids=lambda k: k.name)
def test_bounds_are_enforced_for_every_numeric_key(key):
    base = {"ldpMinBackoff": 0.01, "ldpMaxBackoff": 3600}     # min <= max holds at any bound
    hi = key.hi if key.kind == "number" else int(key.hi)
    for ok in (key.lo, hi):
        c = config.parse(json.dumps({**base, key.name: ok}))
        assert getattr(c, key.attr) == ok, key.name
    below = key.lo - 1 if key.kind == "integer" else key.lo - 0.001
    with pytest.raises(config.ConfigError, match=f"'{key.name}'"):
        config.parse(json.dumps({**base, key.name: below}))


def test_readme_lists_every_key_with_its_default():
    readme = (REPO / "README.md").read_text()
    section = readme.split("### Init config", 1)[1].split("\n### ", 1)[0]
    rows = [ln for ln in section.splitlines() if ln.startswith("| `")]
    for k in config.TABLE:
        row = [r for r in rows if f"`{k.name}`" in r]
        assert row, f"README's Init config table has no row for {k.name}"
        cells = [c.strip() for c in row[0].strip("|").split("|")]
        names = [n.strip(" `") for n in re.split(r"[/,]", cells[0])]
        defaults = [d.strip() for d in cells[2].split("/")]
        if k.kind in ("integer", "number") and len(names) == len(defaults):
            assert float(defaults[names.index(k.name)]) == k.default, k.name
        elif k.kind == "boolean" and len(names) == len(defaults):
            assert defaults[names.index(k.name)] == str(k.default).lower(), k.name


@pytest.fixture(scope="module")
def lib(plugin_lib):
    from k8saudit_ovh_cli.host import PluginLibrary
    return PluginLibrary(plugin_lib)


@pytest.mark.parametrize("key", [k for k in config.TABLE if k.name.startswith("ldp")],
                         ids=lambda k: k.name)
def test_ldp_keys_through_the_plugin(lib, key, tmp_path):
    """The real path through the library accepts each LDP key and rejects a value of the wrong
    type naming the key. The Python config code runs when the state's Python side is built, at
    the first open (plugin_init starts no CPython): the rejection comes from that open."""
    from k8saudit_ovh_cli.host import PluginError
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    good = {"boolean": False, "string": "/tmp", "integer": key.lo, "number": key.hi}[key.kind]
    extra = {"ldpMinBackoff": 0.01, "ldpMaxBackoff": 3600}
    extra.pop(key.name, None)
    with lib.init(json.dumps({key.name: good, **extra})) as st:
        with st.open(str(empty)):
            pass
        assert st.metrics()["connected"] == 0
    bad = "nope" if key.kind != "string" else 42
    with lib.init(json.dumps({key.name: bad})) as st:
        with pytest.raises(PluginError, match=f"'{key.name}'"):
            st.open(str(empty))
