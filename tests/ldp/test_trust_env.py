"""SSL_CERT_FILE / SSL_CERT_DIR through the Falco-like C host (tests/host/falco_host.c, a
process without Python: the plugin starts its own isolated CPython, whose os.environ must still
be the process environment) against the loopback wss:// LDP-like server with a private test CA.

- only SSL_CERT_FILE set: every event arrives; only SSL_CERT_DIR (a hashed directory) set:
  every event arrives, also with the artifact's bundled OpenSSL, which reads no openssl.cnf and
  whose default locations are the build machine's (so the directory must be loaded explicitly);
- both set: both are used (the CA is only in the directory, the file holds another CA);
- ldpCAFile wins over the variables, both ways (a right ldpCAFile beats wrong variables, a
  wrong ldpCAFile is not rescued by right ones);
- a variable naming nothing readable fails the open with a sentence naming the variable and the
  path: the same sentence in the plugin's log, in Falco's open error and in `k8saudit-ovh check`.

The machine running the tests may set the variables itself (CI images often do): every test
here removes them from the environment the host inherits, then sets exactly its own.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: shared helpers

from ldp_server import LdpServer, synthetic_events  # noqa: E402
from ldp_support import TOKEN, HostRun, _no_proxy_env, cfg, tls  # noqa: E402,F401

import k8saudit_ovh  # noqa: E402

N = 300
VERIFIED = "TLS: server certificates verified with "


@pytest.fixture(autouse=True)
def _no_trust_env(monkeypatch):
    """The host process inherits os.environ (minus PYTHON*): none of the machine's own
    SSL_CERT_FILE/SSL_CERT_DIR, each test sets its own."""
    for k in ("SSL_CERT_FILE", "SSL_CERT_DIR"):
        monkeypatch.delenv(k, raising=False)


@pytest.fixture(scope="module")
def other_ca(tmp_path_factory):
    """A CA that did not sign the server's certificate, under another name than the test CA
    (make_tls names every CA alike: OpenSSL, finding a CA of the right name in memory, would
    not look further, which is not what these tests are about)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "k8saudit-ovh other CA")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    path = tmp_path_factory.mktemp("other") / "other-ca.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return str(path)


# ---------------------------------------------------------------------------------------------
# a hashed CA directory, as `openssl rehash` makes it

def _der(tag: int, body: bytes) -> bytes:
    n = len(body)
    if n < 0x80:
        return bytes([tag, n]) + body
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + body


def _der_oid(dotted: str) -> bytes:
    arcs = [int(x) for x in dotted.split(".")]
    body = bytearray([40 * arcs[0] + arcs[1]])
    for arc in arcs[2:]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        body += bytes(reversed(chunk))
    return _der(0x06, bytes(body))


def subject_hash(pem_path: str) -> str:
    """OpenSSL's X509_NAME_hash of the certificate's subject (the `openssl x509 -hash` value),
    for names of ASCII strings: SHA-1 of the canonical name (each value a UTF8String, lower
    case, blanks collapsed; the RDN sets without the outer SEQUENCE), first 4 bytes little
    endian. A wrong value here cannot make a test pass: OpenSSL would not find the CA."""
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(Path(pem_path).read_bytes())
    canon = b""
    for rdn in cert.subject.rdns:
        items = sorted(_der(0x30, _der_oid(a.oid.dotted_string)
                            + _der(0x0C, " ".join(a.value.split()).lower().encode()))
                       for a in rdn)
        canon += _der(0x31, b"".join(items))
    return "%08x" % int.from_bytes(hashlib.sha1(canon).digest()[:4], "little")


def hashed_dir(path: Path, *cas: str) -> str:
    """A directory holding each CA only under its hash link name (<hash>.0 -> the PEM file)."""
    path.mkdir(parents=True)
    store = path / "pem"
    store.mkdir()
    for i, ca in enumerate(cas):
        h = subject_hash(ca)
        openssl = shutil.which("openssl")
        if openssl:   # the same value as OpenSSL's own, where its command line is installed
            r = subprocess.run([openssl, "x509", "-hash", "-noout", "-in", ca],
                               capture_output=True, text=True, check=True)
            assert r.stdout.strip() == h, (r.stdout, h)
        target = store / f"ca{i}.pem"
        shutil.copyfile(ca, target)
        os.symlink(target, path / f"{h}.0")
    return str(path)


# ---------------------------------------------------------------------------------------------

def _tail(c_host, plugin_lib, server_ctx, env, config=None, trusted=True):
    """The C host tails a wss:// server signed by the test CA with `env` added to its
    environment; N events are published. Returns (events' payloads, stderr)."""
    evs = synthetic_events(N, prefix="trust")
    with LdpServer(token=TOKEN, ssl_context=server_ctx, host="127.0.0.1") as srv:
        run = HostRun(c_host, plugin_lib, [
            "--config", cfg(**(config or {})), "--open", srv.url(host="localhost"),
            "--max-events", str(N), "--max-seconds", "30" if trusted else "4"], env=env)
        if trusted:
            assert srv.wait_clients(1, timeout=15), run.stderr()
        srv.publish(evs)
        assert run.finish(timeout=60) == 0, run.stderr()
        handshakes = srv.handshakes
    err = run.stderr()
    assert TOKEN not in err and TOKEN not in json.dumps(run.lines)
    summary = run.lines[-1]
    got = [e["payload"] for e in run.events]
    if trusted:
        assert summary["end"] == "MAX", (summary, err[-3000:])
        assert got == evs
    else:
        assert summary["end"] == "TIME", (summary, err[-3000:])
        assert got == [] and handshakes == 0          # never past TLS
        assert "certificate verification failed" in err, err[-3000:]
    return got, err


def test_c_host_wss_trusts_SSL_CERT_FILE(c_host, plugin_lib, tls):
    ca, server_ctx = tls
    got, err = _tail(c_host, plugin_lib, server_ctx, {"SSL_CERT_FILE": ca})
    assert len(got) == N
    assert f"{VERIFIED}SSL_CERT_FILE ({ca}) from the environment" in err, err[-3000:]


def test_c_host_wss_trusts_a_hashed_SSL_CERT_DIR(c_host, plugin_lib, tls, tmp_path):
    ca, server_ctx = tls
    d = hashed_dir(tmp_path / "certs", ca)
    got, err = _tail(c_host, plugin_lib, server_ctx, {"SSL_CERT_DIR": d})
    assert len(got) == N
    assert f"{VERIFIED}SSL_CERT_DIR ({d}) from the environment" in err, err[-3000:]


def test_c_host_uses_both_variables_when_both_are_set(c_host, plugin_lib, tls, other_ca, tmp_path):
    """The file holds another CA, the directory (second in a list) the right one."""
    ca, server_ctx = tls
    empty = tmp_path / "empty"
    empty.mkdir()
    d = f"{empty}:{hashed_dir(tmp_path / 'certs', ca)}"
    got, err = _tail(c_host, plugin_lib, server_ctx, {"SSL_CERT_FILE": other_ca, "SSL_CERT_DIR": d})
    assert len(got) == N
    assert f"{VERIFIED}SSL_CERT_FILE ({other_ca}) and SSL_CERT_DIR ({d}) from the environment" \
        in err, err[-3000:]


def test_c_host_ldpCAFile_wins_over_the_variables(c_host, plugin_lib, tls, other_ca, tmp_path):
    ca, server_ctx = tls
    # the right ldpCAFile; the variables name another CA and a directory that does not exist
    got, err = _tail(c_host, plugin_lib, server_ctx,
                     {"SSL_CERT_FILE": other_ca, "SSL_CERT_DIR": str(tmp_path / "nowhere")},
                     config={"ldpCAFile": ca})
    assert len(got) == N
    assert (f"{VERIFIED}ldpCAFile ({ca}); SSL_CERT_FILE and SSL_CERT_DIR ignored (ldpCAFile is "
            "set)") in err, err[-3000:]
    # a wrong ldpCAFile is not rescued by right variables
    _, err = _tail(c_host, plugin_lib, server_ctx,
                   {"SSL_CERT_FILE": ca, "SSL_CERT_DIR": hashed_dir(tmp_path / "certs", ca)},
                   config={"ldpCAFile": other_ca}, trusted=False)
    assert f"{VERIFIED}ldpCAFile ({other_ca})" in err, err[-3000:]


def _check_cli(url, env):
    e = {**os.environ, **env}
    pkg_parent = str(Path(k8saudit_ovh.__file__).parent.parent)
    e["PYTHONPATH"] = pkg_parent + os.pathsep + e.get("PYTHONPATH", "")
    r = subprocess.run([sys.executable, "-m", "k8saudit_ovh_cli.cli", "check", url,
                        "--timeout", "1"], env=e, capture_output=True, text=True, timeout=60,
                       stdin=subprocess.DEVNULL)
    return r.returncode, r.stdout, r.stderr


@pytest.mark.parametrize("var,kind", [("SSL_CERT_FILE", "missing"), ("SSL_CERT_FILE", "dir"),
                                      ("SSL_CERT_FILE", "not PEM"), ("SSL_CERT_DIR", "missing"),
                                      ("SSL_CERT_DIR", "file")])
def test_an_unusable_variable_fails_the_open_naming_it(c_host, plugin_lib, run_host, tls,
                                                       tmp_path, var, kind):
    ca, _ = tls
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    value = {"missing": str(tmp_path / "no" / "such.pem"), "dir": str(tmp_path),
             "file": ca, "not PEM": str(garbage)}[kind]
    if kind == "not PEM":      # readable, but OpenSSL finds no certificate in it
        start = f"cannot load the CA certificates of {var} ({value}) from the environment: "
    else:
        what = "a readable file" if var == "SSL_CERT_FILE" else "a readable directory"
        start = f"{var} '{value}' (from the environment) is not {what} ("
    # a closed port: an open that went on to connect would not fail with this sentence
    url = f"wss://localhost:1/tail/?tk={TOKEN}"
    rc, lines, err = run_host([c_host, plugin_lib, "replay", "--config", cfg(), "--open", url,
                               "--expect-open-fail"], env={var: value}, timeout=60)
    assert rc == 0, err
    open_error = lines[0]["open_error"]
    assert open_error.startswith("k8saudit-ovh: "), open_error
    sentence = open_error[len("k8saudit-ovh: "):]
    assert sentence.startswith(start), sentence
    if kind != "not PEM":
        assert "or set ldpCAFile" in sentence, sentence
    # the same sentence in the plugin's log (Falco's stderr) ...
    assert f"[k8saudit-ovh] ERROR {sentence}" in err, err[-3000:]
    # ... and in the check command, which stops there (exit 2: a setting to fix)
    rc, out, cerr = _check_cli(url, {var: value})
    assert rc == 2, out + cerr
    assert f"trust     : INVALID: {sentence}" in out.splitlines(), out
    assert "connect" not in out
    for text in (open_error, err, out, cerr):
        assert TOKEN not in text


def test_check_names_the_variables_that_verify_the_server(tls, tmp_path):
    """`k8saudit-ovh check` says which CAs verify the server, and connects with them."""
    ca, server_ctx = tls
    with LdpServer(token=TOKEN, ssl_context=server_ctx, host="127.0.0.1") as srv:
        rc, out, err = _check_cli(srv.url(host="localhost"), {"SSL_CERT_FILE": ca})
    assert rc == 0, out + err
    assert f"TLS verified with SSL_CERT_FILE ({ca}) from the environment" in out, out
    assert "TLS       : ok" in out and "handshake : ok" in out, out
    assert TOKEN not in out + err


def test_artifact_bundled_openssl_loads_SSL_CERT_DIR(c_host, tmp_path_factory, tmp_path):
    """The falcoctl artifact in a clean environment (PATH and SSL_CERT_DIR only): its own
    OpenSSL, started without the host's openssl.cnf, finds the CA through the hashed
    directory."""
    import dist_support as ds
    from k8saudit_ovh_release import layer

    art = ds.build_artifact(tmp_path_factory.mktemp("dist"))
    plugins = tmp_path / "plugins"
    layer.extract_layer(art.path(art.tarball).read_bytes(), plugins)
    n = 5
    seen = {}

    def start(url, ca):
        seen["dir"] = hashed_dir(tmp_path / "certs", ca)
        return subprocess.Popen(
            [str(c_host), str(plugins / k8saudit_ovh.LIBRARY_NAME), "replay", "--open", url,
             "--config", cfg(), "--max-events", str(n), "--max-seconds", "60", "--quiet"],
            env={"PATH": ds.CLEAN_PATH, "SSL_CERT_DIR": seen["dir"]}, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    rc, lines, err = ds.tail_loopback_ldp(start, n, tmp_path)
    end = ds.replay_summary(lines, err, rc)
    assert end["end"] == "MAX" and end["events"] == n, (end, err[-3000:])
    assert f"{VERIFIED}SSL_CERT_DIR ({seen['dir']}) from the environment" in err, err[-3000:]
