"""Which CA bundle verifies the LDP server: ldpCAFile, else the host's, else certifi's."""
from __future__ import annotations

import logging

from k8saudit_ovh import trust
from k8saudit_ovh.log import get_logger


def test_ldpCAFile_wins_over_everything(tmp_path):
    host = tmp_path / "host.pem"
    host.write_text("x")
    assert trust.choose_ca_bundle("/etc/my-ca.pem", candidates=(str(host),)) == (
        "/etc/my-ca.pem", "ldpCAFile")


def test_first_non_empty_host_bundle_in_order(tmp_path):
    empty, rhel, debian = tmp_path / "empty.pem", tmp_path / "rhel.pem", tmp_path / "deb.pem"
    empty.write_text("")
    rhel.write_text("x")
    debian.write_text("x")
    got = trust.choose_ca_bundle("", candidates=(str(tmp_path / "missing.pem"), str(empty),
                                                 str(tmp_path), str(rhel), str(debian)))
    assert got == (str(rhel), "the host's CA bundle")


def test_the_usual_places_cover_debian_wolfi_and_rhel():
    assert trust.SYSTEM_CA_BUNDLES[0] == "/etc/ssl/certs/ca-certificates.crt"
    assert "/etc/pki/tls/certs/ca-bundle.crt" in trust.SYSTEM_CA_BUNDLES


def test_without_a_host_bundle_certifi_is_used(tmp_path):
    path, origin = trust.choose_ca_bundle("", candidates=(str(tmp_path / "none.pem"),))
    assert origin == "the CA bundle shipped with the plugin (certifi)"
    assert path.endswith("/certifi/cacert.pem")
    assert "BEGIN CERTIFICATE" in open(path).read()


def test_choice_is_logged_once():
    seen = []
    handler = logging.Handler()
    handler.emit = seen.append
    logger = get_logger()
    logger.addHandler(handler)
    try:
        trust.log_choice("/x/unique-test.pem", "ldpCAFile")
        trust.log_choice("/x/unique-test.pem", "ldpCAFile")
    finally:
        logger.removeHandler(handler)
    assert [r.getMessage() for r in seen] == [
        "TLS: server certificates verified with ldpCAFile (/x/unique-test.pem)"]
