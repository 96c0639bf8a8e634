"""The entry library's start-up errors, as Falco sees them: the C host (no Python) loads a copy
of the extracted artifact with one piece broken. CPython starts at the first call that needs it,
so plugin_init succeeds and the first plugin_open fails with one sentence that names the problem
(through get_last_error; Falco stops there with that text), and the process goes on (exit status
3, no signal). A first extraction without any open (capture-file mode) gets no values and the
same sentence on stderr, once. Also: metadata-only and init-only loads never start CPython, even
from the artifact."""
from __future__ import annotations

import shutil
import sysconfig
from pathlib import Path

import pytest

import dist_support as ds
from conftest import INCLUDE, compile_c
from k8saudit_ovh import LIBRARY_NAME
from k8saudit_ovh_release import artifact, layer

EXIT_OPEN = 3
EXT = sysconfig.get_config_var("EXT_SUFFIX")
SONAME = sysconfig.get_config_var("INSTSONAME")


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    """The artifact, extracted once the way falcoctl does."""
    art = ds.build_artifact(tmp_path_factory.mktemp("dist"))
    plugins = tmp_path_factory.mktemp("pristine") / "plugins"
    layer.extract_layer(art.path(art.tarball).read_bytes(), plugins)
    return plugins


@pytest.fixture
def plugins(pristine, tmp_path):
    dst = tmp_path / "plugins"
    shutil.copytree(pristine, dst)
    return dst


def _open(c_host, plugins: Path, **env):
    rc, lines, err = ds.run_clean([c_host, plugins / LIBRARY_NAME, "replay", "--open",
                                   ds.require_events(), "--quiet"], extra_env=env)
    return rc, err


def _start_fails_with(c_host, plugins: Path, *fragments: str) -> str:
    """plugin_init succeeds (no CPython yet), plugin_open fails with the start-up sentence; and
    an extraction without open (capture-file mode) gets no values and says the same once."""
    rc, err = _open(c_host, plugins)
    assert rc == EXIT_OPEN, f"expected a clean open failure (exit {EXIT_OPEN}), got {rc}:\n{err}"
    assert "falco_host: init failed" not in err, err
    line = next((ln for ln in err.splitlines() if ln.startswith("falco_host: open failed: ")),
                None)
    assert line, f"no open failure message:\n{err}"
    for f in fragments:
        assert f in line, f"{f!r} not in: {line}"
    rc, lines, err = ds.run_clean([c_host, plugins / LIBRARY_NAME, "extract", "--events",
                                   ds.require_events(), "--field", "ka.verb"])
    assert rc == 0, err
    assert lines and all(rec["values"] == {} for rec in lines), lines[:3]
    said = [ln for ln in err.splitlines() if "field extraction is off" in ln]
    assert len(said) == 1, err
    for f in fragments:
        assert f in said[0], f"{f!r} not in: {said[0]}"
    return line


def _tree(root: Path):
    return sorted((str(p.relative_to(root)), p.stat().st_size, p.stat().st_mtime_ns)
                  for p in root.rglob("*"))


def test_the_pristine_copy_starts_and_writes_nothing(c_host, plugins):
    """The baseline of every case below: the same copy, unbroken, works; and it leaves the
    plugins folder as it was (no byte code written: the folder may be read-only)."""
    before = _tree(plugins)
    rc, lines, err = ds.run_clean([c_host, plugins / LIBRARY_NAME, "replay", "--open",
                                   ds.require_events(), "--quiet"])
    assert ds.replay_summary(lines, err, rc)["events"] == ds.EVENTS_DELIVERED
    assert _tree(plugins) == before


def test_libpython_missing(c_host, plugins):
    lib = plugins / artifact.LIB_DIR / SONAME
    lib.unlink()
    _start_fails_with(c_host, plugins, f"the bundled CPython library {lib} is missing",
                     "install it again")


def test_libpython_of_another_cpython_version(c_host, plugins, tmp_path):
    """A library that says it is CPython 3.12 where 3.11 is expected: refused before any of its
    functions is called (PyConfig's layout differs between versions)."""
    src = tmp_path / "fakepy.c"
    src.write_text("const unsigned long Py_Version = 0x030C01F0UL;\n"
                   "const char* Py_GetVersion(void) { return \"3.12.1 (fake)\"; }\n")
    compile_c([src], plugins / artifact.LIB_DIR / SONAME, ["-O0", f"-Wl,-soname,{SONAME}"],
              shared=True)
    _start_fails_with(c_host, plugins, "is CPython 3.12.1, but this plugin was built for CPython "
                     + ds.this_python_version())


def test_library_that_is_not_cpython(c_host, plugins, tmp_path):
    src = tmp_path / "notpy.c"
    src.write_text("int not_python(void) { return 0; }\n")
    compile_c([src], plugins / artifact.LIB_DIR / SONAME, ["-O0"], shared=True)
    _start_fails_with(c_host, plugins, "is not a CPython shared library")


def test_standard_library_missing(c_host, plugins):
    stdlib_zip = next((plugins / artifact.RUNTIME_DIR).glob("python3*.zip"))
    stdlib_zip.unlink()
    _start_fails_with(c_host, plugins, "has no standard library", str(stdlib_zip))


def test_lib_dynload_missing(c_host, plugins):
    shutil.rmtree(plugins / artifact.DYNLOAD_DIR)
    _start_fails_with(c_host, plugins, "has no standard extension modules")


def test_standard_library_unusable_cpython_refuses_to_start(c_host, plugins):
    """A zip that is not one: CPython's own start-up fails (no codecs). CPython reports it as
    a status, which the library passes on; the host process lives on."""
    stdlib_zip = next((plugins / artifact.RUNTIME_DIR).glob("python3*.zip"))
    stdlib_zip.write_bytes(b"this is not a zip archive\n")
    line = _start_fails_with(c_host, plugins, "does not start with the Python home",
                            str(plugins / artifact.RUNTIME_DIR))
    assert "encoding" in line or "encodings" in line, line


def test_plugin_module_import_failure(c_host, plugins):
    (plugins / artifact.SITE_DIR / "k8saudit_ovh" / f"_plugin{EXT}").unlink()
    _start_fails_with(c_host, plugins, "cannot import the plugin module k8saudit_ovh._plugin: "
                     "ModuleNotFoundError: No module named 'k8saudit_ovh._plugin'")


def test_plugin_module_without_function_table(c_host, plugins):
    pkg = plugins / artifact.SITE_DIR / "k8saudit_ovh"
    (pkg / f"_plugin{EXT}").unlink()
    (pkg / "_plugin.py").write_text("vtable = None\n")
    _start_fails_with(c_host, plugins, "k8saudit_ovh._plugin has no function table")


def test_function_table_version_mismatch(c_host, plugins, tmp_path):
    """A _plugin module from another build: its capsule carries another table version."""
    src = tmp_path / "fake_plugin_module.c"
    src.write_text(r'''
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include "k8saudit_vtable.h"
static k8s_vtable vt = {K8S_VTABLE_VERSION + 41u};
static struct PyModuleDef def = {PyModuleDef_HEAD_INIT, "_plugin", NULL, -1, NULL};
PyMODINIT_FUNC PyInit__plugin(void) {
    PyObject* m = PyModule_Create(&def);
    if (m && PyModule_AddObject(m, "vtable", PyCapsule_New(&vt, K8S_VTABLE_CAPSULE, NULL)) < 0)
        return NULL;
    return m;
}
''')
    compile_c([src], plugins / artifact.SITE_DIR / "k8saudit_ovh" / f"_plugin{EXT}",
              ["-O0", "-I", sysconfig.get_paths()["include"], "-I", str(INCLUDE)], shared=True)
    line = _start_fails_with(c_host, plugins, "has function table version")
    assert "install them together" in line


def test_python_environment_changes_nothing(c_host, plugins, tmp_path):
    """PYTHONHOME/PYTHONPATH/... of Falco's environment are ignored by the bundled runtime."""
    bogus = tmp_path / "bogus"
    (bogus / "k8saudit_ovh").mkdir(parents=True)
    (bogus / "k8saudit_ovh" / "__init__.py").write_text("raise SystemExit('bogus package')\n")
    (bogus / "encodings").mkdir()
    (bogus / "encodings" / "__init__.py").write_text("raise SystemExit('bogus encodings')\n")
    env = {"PYTHONHOME": str(bogus), "PYTHONPATH": str(bogus), "PYTHONSTARTUP": str(bogus),
           "PYTHONUSERBASE": str(bogus), "PYTHONNOUSERSITE": "", "PYTHONVERBOSE": "1",
           "K8SAUDIT_OVH_LIBPYTHON": "/nonexistent/libpython.so",
           "K8SAUDIT_OVH_PYTHONHOME": str(bogus), "OPENSSL_CONF": str(bogus / "openssl.cnf")}
    rc, lines, err = ds.run_clean([c_host, plugins / LIBRARY_NAME, "replay", "--open",
                                   ds.require_events(), "--quiet"], extra_env=env)
    assert ds.replay_summary(lines, err, rc)["events"] == ds.EVENTS_DELIVERED
    assert "import " not in err, "PYTHONVERBOSE was honoured: the environment leaked in"


def test_metadata_only_load_of_the_artifact_starts_no_python(c_host, plugins):
    rc, lines, err = ds.run_clean([c_host, plugins / LIBRARY_NAME, "info"],
                                  extra_env={"LD_DEBUG": "files"})
    assert rc == 0, err
    loaded = [ln for ln in err.splitlines() if "file=" in ln]
    assert loaded, "LD_DEBUG=files printed nothing: the check would be blind"
    assert not [ln for ln in loaded if "libpython" in ln], "CPython was loaded for metadata"


def test_init_without_open_of_the_artifact_starts_no_python(c_host, plugins):
    """What `falco --list` and an inspector that never opens the plugin do: init, metrics,
    destroy. The bundled libpython is not mapped; it is once the plugin is opened."""
    rc, lines, err = ds.run_clean([c_host, plugins / LIBRARY_NAME, "lifecycle"])
    assert rc == 0, err
    (rec,) = lines
    assert "init_error" not in rec, rec
    assert rec["libpython_after_init"] is None and rec["libpython_at_end"] is None, rec
    assert rec["metrics_after_init"] == {}, rec
    rc, lines, err = ds.run_clean([c_host, plugins / LIBRARY_NAME, "lifecycle", "--open",
                                   ds.require_events()])
    assert rc == 0, err
    (rec,) = lines
    assert rec["libpython_after_init"] is None, rec
    assert "open_error" not in rec, rec
    assert rec["libpython_after_open"] == str(plugins / artifact.LIB_DIR / SONAME), rec


def test_broken_runtime_does_not_fail_init(c_host, plugins):
    """With the bundled libpython gone, init (and so `falco --list`) still works: nothing at
    init needs it."""
    (plugins / artifact.LIB_DIR / SONAME).unlink()
    rc, lines, err = ds.run_clean([c_host, plugins / LIBRARY_NAME, "lifecycle"])
    assert rc == 0, err
    assert "init_error" not in lines[0] and lines[0]["metrics_after_init"] == {}, lines
