"""Which CAs verify the LDP server: ldpCAFile, else SSL_CERT_FILE/SSL_CERT_DIR from the
environment (both when both are set), else the host's bundle, else certifi's. An unreadable
ldpCAFile or variable is an error naming it, never a silent fall-through.

These run the choice in-process with an explicit environment; tests/ldp/test_trust_env.py runs
the same order through the C host (a process without Python, like Falco)."""
from __future__ import annotations

import logging

import pytest

from k8saudit_ovh import trust
from k8saudit_ovh.ldp import errors as ldp_errors
from k8saudit_ovh.ldp import tls
from k8saudit_ovh.log import get_logger


@pytest.fixture
def files(tmp_path):
    """A host bundle, an SSL_CERT_FILE, two SSL_CERT_DIRs, an ldpCAFile (contents do not
    matter to the choice)."""
    out = {}
    for name in ("host", "env", "ldp"):
        (tmp_path / f"{name}.pem").write_text("x")
        out[f"{name}_pem"] = str(tmp_path / f"{name}.pem")
    for name in ("dir1", "dir2"):
        (tmp_path / name).mkdir()
        out[name] = str(tmp_path / name)
    out["missing"] = str(tmp_path / "missing.pem")
    return out


def test_ldpCAFile_wins_over_everything(files):
    env = {"SSL_CERT_FILE": files["env_pem"], "SSL_CERT_DIR": files["dir1"]}
    got = trust.choose(files["ldp_pem"], environ=env, candidates=(files["host_pem"],))
    assert (got.origin, got.cafile, got.capath) == ("ldpCAFile", files["ldp_pem"], None)
    assert got.ignored == ("SSL_CERT_FILE", "SSL_CERT_DIR")
    assert got.describe() == (f"ldpCAFile ({files['ldp_pem']}); SSL_CERT_FILE and SSL_CERT_DIR "
                              "ignored (ldpCAFile is set)")
    # ldpCAFile wins even over variables that name nothing readable: they are not looked at
    env = {"SSL_CERT_FILE": files["missing"], "SSL_CERT_DIR": files["missing"]}
    assert trust.choose(files["ldp_pem"], environ=env).cafile == files["ldp_pem"]
    assert trust.choose(files["ldp_pem"], environ={}).describe() == f"ldpCAFile ({files['ldp_pem']})"


def test_SSL_CERT_FILE_comes_before_the_host_bundle(files):
    got = trust.choose("", environ={"SSL_CERT_FILE": files["env_pem"]},
                       candidates=(files["host_pem"],))
    assert (got.origin, got.cafile, got.capath) == ("the environment", files["env_pem"], None)
    assert got.describe() == f"SSL_CERT_FILE ({files['env_pem']}) from the environment"


def test_SSL_CERT_DIR_comes_before_the_host_bundle(files):
    got = trust.choose("", environ={"SSL_CERT_DIR": files["dir1"]},
                       candidates=(files["host_pem"],))
    assert (got.origin, got.cafile, got.capath) == ("the environment", None, files["dir1"])
    assert got.describe() == f"SSL_CERT_DIR ({files['dir1']}) from the environment"


def test_both_variables_are_used_together_like_openssl(files):
    dirs = f"{files['dir1']}::{files['dir2']}:"          # OpenSSL's list; empty parts skipped
    got = trust.choose("", environ={"SSL_CERT_FILE": files["env_pem"], "SSL_CERT_DIR": dirs},
                       candidates=(files["host_pem"],))
    assert (got.cafile, got.capath) == (files["env_pem"], f"{files['dir1']}:{files['dir2']}")
    assert got.describe() == (f"SSL_CERT_FILE ({files['env_pem']}) and SSL_CERT_DIR "
                              f"({files['dir1']}:{files['dir2']}) from the environment")


def test_blank_variables_count_as_unset(files):
    got = trust.choose("", environ={"SSL_CERT_FILE": "", "SSL_CERT_DIR": " : "},
                       candidates=(files["host_pem"],))
    assert (got.origin, got.cafile) == ("the host's CA bundle", files["host_pem"])


@pytest.mark.parametrize("env,words", [
    ({"SSL_CERT_FILE": "{missing}"},
     ["SSL_CERT_FILE '{missing}' (from the environment) is not a readable file",
      "no such file or directory"]),
    ({"SSL_CERT_FILE": "{dir1}"},
     ["SSL_CERT_FILE '{dir1}' (from the environment) is not a readable file",
      "it is a directory"]),
    ({"SSL_CERT_DIR": "{missing}"},
     ["SSL_CERT_DIR '{missing}' (from the environment) is not a readable directory",
      "no such file or directory", "openssl rehash"]),
    ({"SSL_CERT_DIR": "{dir1}:{host_pem}"},                      # each element is checked
     ["SSL_CERT_DIR '{host_pem}' (from the environment) is not a readable directory",
      "it is not a directory"]),
    ({"SSL_CERT_FILE": "{env_pem}", "SSL_CERT_DIR": "{missing}"},  # both set: both checked
     ["SSL_CERT_DIR '{missing}'"]),
])
def test_an_unreadable_variable_is_an_error_naming_it(files, env, words):
    env = {k: v.format(**files) for k, v in env.items()}
    with pytest.raises(trust.TrustError) as e:
        trust.choose("", environ=env, candidates=(files["host_pem"],))   # no fall-through
    for w in words:
        assert w.format(**files) in str(e.value), str(e.value)
    assert "ldpCAFile" in str(e.value)          # the way out, whatever the variable


def test_a_missing_ldpCAFile_is_an_error_naming_it(files):
    with pytest.raises(trust.TrustError, match=r"^ldpCAFile '.*missing\.pem' is not a readable file"):
        trust.choose(files["missing"], environ={"SSL_CERT_FILE": files["env_pem"]})


def test_first_non_empty_host_bundle_in_order(tmp_path):
    empty, rhel, debian = tmp_path / "empty.pem", tmp_path / "rhel.pem", tmp_path / "deb.pem"
    empty.write_text("")
    rhel.write_text("x")
    debian.write_text("x")
    got = trust.choose("", environ={}, candidates=(str(tmp_path / "missing.pem"), str(empty),
                                                   str(tmp_path), str(rhel), str(debian)))
    assert (got.origin, got.cafile, got.capath) == ("the host's CA bundle", str(rhel), None)


def test_the_usual_places_cover_debian_wolfi_and_rhel():
    assert trust.SYSTEM_CA_BUNDLES[0] == "/etc/ssl/certs/ca-certificates.crt"
    assert "/etc/pki/tls/certs/ca-bundle.crt" in trust.SYSTEM_CA_BUNDLES


def test_without_a_host_bundle_certifi_is_used(tmp_path):
    got = trust.choose("", environ={}, candidates=(str(tmp_path / "none.pem"),))
    assert got.origin == "the CA bundle shipped with the plugin (certifi)"
    assert got.cafile.endswith("/certifi/cacert.pem")
    assert "BEGIN CERTIFICATE" in open(got.cafile).read()


def test_the_process_environment_is_the_default(files, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", files["env_pem"])
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    assert trust.choose("").cafile == files["env_pem"]
    monkeypatch.delenv("SSL_CERT_FILE")
    monkeypatch.setenv("SSL_CERT_DIR", files["dir2"])
    assert (trust.choose("").cafile, trust.choose("").capath) == (None, files["dir2"])


def test_a_file_without_certificates_names_the_variable(files, monkeypatch):
    """Readable but not PEM: OpenSSL refuses it, and the open error still names the variable
    and the path (through tls.make_ssl_context, what the LDP source and check call)."""
    monkeypatch.setenv("SSL_CERT_FILE", files["env_pem"])      # contains "x"
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    with pytest.raises(ldp_errors.LdpError) as e:
        tls.make_ssl_context("")
    msg = str(e.value)
    assert msg.startswith("k8saudit-ovh: cannot load the CA certificates of SSL_CERT_FILE "
                          f"({files['env_pem']}) from the environment: "), msg


def _records(fn):
    seen = []
    handler = logging.Handler()
    handler.emit = seen.append
    logger = get_logger()
    logger.addHandler(handler)
    try:
        fn()
    finally:
        logger.removeHandler(handler)
    return [(r.levelname, r.getMessage()) for r in seen]


def test_choice_is_logged_once():
    choice = trust.CaChoice("ldpCAFile", cafile="/x/unique-test.pem")
    assert _records(lambda: (trust.log_choice(choice), trust.log_choice(choice))) == [
        ("INFO", "TLS: server certificates verified with ldpCAFile (/x/unique-test.pem)")]
    env = trust.CaChoice("the environment", cafile="/x/unique-env.pem", capath="/x/unique-dir")
    assert _records(lambda: trust.log_choice(env)) == [
        ("INFO", "TLS: server certificates verified with SSL_CERT_FILE (/x/unique-env.pem) and "
                 "SSL_CERT_DIR (/x/unique-dir) from the environment")]


def test_an_unusable_setting_is_logged_as_the_error_falco_gets(files, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", files["missing"])
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    errors = []
    logs = _records(lambda: errors.append(pytest.raises(ldp_errors.LdpError,
                                                        tls.make_ssl_context, "")))
    sentence = str(errors[0].value).removeprefix("k8saudit-ovh: ")
    assert sentence.startswith(f"SSL_CERT_FILE '{files['missing']}' (from the environment)")
    assert logs == [("ERROR", sentence)]
