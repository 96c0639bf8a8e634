"""LDP WebSocket live tail: addresses, frames, and a loopback LDP-like server driven through the
Python host (k8saudit_ovh_cli.host) and through the Falco-like C host (tests/host/falco_host.c).

Every test is bounded in time: short ping intervals and backoff caps come from the init config.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: shared helpers

from ldp_server import ConnectProxy, LdpServer, gelf_frame, synthetic_events  # noqa: E402
from ldp_support import (TOKEN, HostRun, _no_proxy_env, cfg, drain, lib, server,  # noqa: E402,F401
                         tls, wait_for)

import k8saudit_ovh  # noqa: E402
from k8saudit_ovh import config as config_mod  # noqa: E402
from k8saudit_ovh import ldp  # noqa: E402
from k8saudit_ovh.ldp import connect as ldp_connect  # noqa: E402
from k8saudit_ovh._ingest import Counters, Dedupe, EventQueue, Feeder  # noqa: E402
from k8saudit_ovh_cli.check import check as ldp_check  # noqa: E402
from k8saudit_ovh_cli.host import PluginError  # noqa: E402
from k8saudit_ovh_testing.hooks import dedupe_seen  # noqa: E402

# ---------------------------------------------------------------------------------------------
# addresses

@pytest.mark.parametrize("text,host,port,secure,path,cluster", [
    ("wss://gra1.logs.ovh.com/tail/?tk=abc-123", "gra1.logs.ovh.com", 443, True,
     "/tail/?tk=abc-123", None),
    ("gra1.logs.ovh.com/tail/?tk=abc-123", "gra1.logs.ovh.com", 443, True, "/tail/?tk=abc-123", None),
    ("  GRA3.logs.ovh.com:8443/tail/?tk=abc-123#cluster=prod-eu  ", "gra3.logs.ovh.com", 8443, True,
     "/tail/?tk=abc-123", "prod-eu"),
    ("ws://127.0.0.1:9000/tail/?tk=tok1&x=1", "127.0.0.1", 9000, False, "/tail/?tk=tok1&x=1",
     None),
    ("ws://localhost:9000/?tk=tok1#cluster=a%20b", "localhost", 9000, False, "/?tk=tok1", "a b"),
    ("wss://[::1]:9443/tail/?tk=tok1", "::1", 9443, True, "/tail/?tk=tok1", None),
])
def test_parse_url(text, host, port, secure, path, cluster):
    u = ldp.parse_url(text)
    assert (u.host, u.port, u.secure, u.path, u.cluster) == (host, port, secure, path, cluster)
    assert "tk=***" in u.display and u.token not in u.display
    assert u.url.startswith(("wss://", "ws://")) and u.token in u.url


@pytest.mark.parametrize("text,why", [
    ("", "empty"),
    ("https://gra1.logs.ovh.com/tail/?tk=SECRETTOKEN", "webhook"),
    ("http://gra1.logs.ovh.com/tail/?tk=SECRETTOKEN", "webhook"),
    ("ftp://gra1.logs.ovh.com/tail/?tk=SECRETTOKEN", "unsupported scheme"),
    ("ws://gra1.logs.ovh.com/tail/?tk=SECRETTOKEN", "unencrypted"),
    ("wss://gra1.logs.ovh.com/tail/", "no tk="),
    ("wss://gra1.logs.ovh.com/tail/?tk=", "empty tk="),
    ("wss://gra1.logs.ovh.com/tail/?tk=SECRETTOKEN&tk=SECRETTOKEN2", "several tk="),
    ("wss://gra1.logs.ovh.com/tail/?tk=SECRETTOKEN&begin=1", "needs 'end='"),
    ("wss://gra1.logs.ovh.com/tail/?tk=SECRETTOKEN&end=2", "needs 'begin='"),
    ("wss://gra1.logs.ovh.com/tail/?tk=SECRETTOKEN&begin=9&end=2", "must be after"),
    ("wss://gra1.logs.ovh.com/tail/?tk=SECRETTOKEN&begin=today&end=2", "RFC 3339"),
    ("wss://gra1.logs.ovh.com/tail/?tk=SECRETTOKEN&begin=1&end=99999999999", "in the future"),
    ("wss://gra1.logs.ovh.com/tail/?tk=SECRETTOKEN&begin=2026-02-30T00:00:00Z&end=2", "valid date"),
    ("wss://user:pw@gra1.logs.ovh.com/tail/?tk=SECRETTOKEN", "user:password"),
    ("wss://evil.com@gra1.logs.ovh.com/tail/?tk=SECRETTOKEN", "user:password"),
    ("wss://gra1.logs.ovh.com:99999/tail/?tk=SECRETTOKEN", "port"),
    ("wss://gra1.logs.ovh.com:http/tail/?tk=SECRETTOKEN", "port"),
    ("wss://gra_1..logs/tail/?tk=SECRETTOKEN", "host name"),
    ("wss://gra1.logs.ovh.com/tail/?tk=SECRETTOKEN#foo=bar", "unknown option"),
    ("wss://gra1.logs.ovh.com/tail/?tk=SECRETTOKEN#cluster=", "#cluster="),
    ("wss://gra1.logs.ovh.com/tail/?tk=SECRET TOKEN", "spaces"),
    ("wss://gra1.logs.ovh.com/tail/?tk=SECRETTOKEN\n", None),  # trailing newline is stripped
])
def test_hostile_urls_give_clear_errors_without_the_token(text, why):
    if why is None:
        assert ldp.parse_url(text).token == "SECRETTOKEN"
        return
    with pytest.raises(ldp.LdpError) as e:
        ldp.parse_url(text)
    msg = str(e.value)
    assert why in msg, msg
    assert "SECRET" not in msg and "TOKEN2" not in msg, msg


def test_params_dispatch_and_split(tmp_path):
    f = tmp_path / "audit.log"
    f.write_text("")
    assert not ldp.is_ldp_params(str(f))
    assert not ldp.is_ldp_params("/var/log/audit.log")
    assert not ldp.is_ldp_params("file:///var/log/audit.log")
    assert not ldp.is_ldp_params("logs/audit.log")
    for p in ("wss://gra1.logs.ovh.com/tail/?tk=x", "gra1.logs.ovh.com/tail/?tk=x",
              "gra1.logs.ovh.com/tail/", "ws://127.0.0.1:1/?tk=x", "example.net/tail/?tk=x",
              "https://gra1.logs.ovh.com/tail/?tk=x",
              "gra1.logs.ovh.com/tail/?tk=a#cluster=x, gra2.logs.ovh.com/tail/?tk=b"):
        assert ldp.is_ldp_params(p), p
    urls = ldp.parse_params("gra1.logs.ovh.com/tail/?tk=a#cluster=x, gra2.logs.ovh.com/tail/?tk=b,")
    assert [(u.host, u.cluster) for u in urls] == [("gra1.logs.ovh.com", "x"),
                                                  ("gra2.logs.ovh.com", None)]
    with pytest.raises(ldp.LdpError, match="listed twice"):
        ldp.parse_params("gra1.logs.ovh.com/tail/?tk=a,wss://gra1.logs.ovh.com/tail/?tk=a")


def test_open_params_suggest_the_ldp_form(plugin_lib):
    import ctypes
    fn = ctypes.CDLL(plugin_lib).plugin_list_open_params
    fn.restype = ctypes.c_char_p
    fn.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int)]
    rc = ctypes.c_int(-1)
    entries = json.loads(fn(None, ctypes.byref(rc)))
    assert rc.value == 0
    ldp_entry = entries[0]
    assert ldp_entry["value"].startswith("wss://") and "tk=<token>" in ldp_entry["value"]
    assert ldp_entry["separator"] == ldp.SEPARATOR
    assert ldp.is_ldp_params(ldp_entry["value"].replace("<token>", "x").replace("<name>", "y"))
    assert any(not ldp.is_ldp_params(e["value"]) for e in entries)       # files still listed


def test_redact():
    ldp.parse_url("wss://gra1.logs.ovh.com/tail/?tk=K%2Fnown-tok")
    assert ldp.redact("GET /tail/?tk=abc&begin=1 x") == "GET /tail/?tk=***&begin=1 x"
    assert ldp.redact("wss://h/tail/?tk=abc: refused") == "wss://h/tail/?tk=***: refused"
    assert ldp.redact("token K/nown-tok leaked, K%2Fnown-tok too") == \
        "token *** leaked, *** too"
    assert ldp.redact("the tk= value") == "the tk= value"
    assert ldp.redact("http://bob:pw@proxy:3128 is not valid") == "http://***@proxy:3128 is not valid"


def test_backoff_is_exponential_with_jitter_and_bounded():
    b = ldp.Backoff(1.0, 60.0)
    delays = [b.next() for _ in range(12)]
    assert all(1.0 <= d <= 60.0 for d in delays)
    assert 0.8 <= delays[0] * 1.0 and delays[0] <= 1.2
    assert 1.6 <= delays[1] <= 2.4 and 3.2 <= delays[2] <= 4.8
    assert all(48 <= d <= 60 for d in delays[7:])
    b.reset()
    assert b.next() <= 1.2
    lo = ldp.Backoff(1.0, 60.0, rng=lambda: 0.0)
    hi = ldp.Backoff(1.0, 60.0, rng=lambda: 1.0)
    assert lo.next() == 1.0 and hi.next() == pytest.approx(1.2)   # jitter within the bounds


# ---------------------------------------------------------------------------------------------
# frames (the C side)

def _feeder(**kw):
    c = Counters()
    q = EventQueue(c)
    return c, q, Feeder(q, kw.get("max_event_size", 262144))


def test_frames_are_unwrapped_in_c_byte_identical():
    c, q, f = _feeder()
    evs = synthetic_events(50, prefix="fr")
    assert sum(f.feed_ldp_frame(gelf_frame(e).encode()) for e in evs) == 50
    rc, out = q.next_batch()
    assert [p for _, p in out] == [e.encode() for e in evs]
    snap = c.snapshot()
    assert snap["frames_received"] == 50 and snap["events_ingested"] == 50
    assert snap["dropped_bad_frame"] == 0


def test_full_message_fallback_and_eventlist():
    c, q, f = _feeder()
    e1, e2, e3 = synthetic_events(3, prefix="fb")
    assert f.feed_ldp_frame(gelf_frame(e1, key="full_message").encode()) == 1
    frame = json.dumps({"message": json.dumps({"short_message": '{"kind":"Eve',
                                               "full_message": e2})})
    assert f.feed_ldp_frame(frame.encode()) == 1
    lst = json.dumps({"kind": "EventList", "items": [json.loads(e3)] * 2}, separators=(",", ":"))
    assert f.feed_ldp_frame(gelf_frame(lst).encode()) == 2
    assert len(q.next_batch()[1]) == 4


def test_malformed_frames_are_counted_by_reason():
    c, q, f = _feeder()
    bad = [b"", b"not json", b"[1,2]", b'{"msg":"x"}', b'{"message":42}', b'{"message":"nope"}',
           b'{"message":"[]"}', json.dumps({"message": json.dumps({"host": "x"})}).encode(),
           json.dumps({"message": json.dumps({"short_message": ""})}).encode()]
    for b in bad:
        assert f.feed_ldp_frame(b) == 0
    assert f.frame_drops() == {"not_json": 3, "no_message": 2, "gelf_not_json": 2, "no_payload": 2}
    f.feed_ldp_frame(gelf_frame("plain text log line").encode())
    f.feed_ldp_frame(gelf_frame('{"kind":"Pod"}').encode())
    f.feed_ldp_frame(gelf_frame('{"kind":"Event"}').encode())
    snap = c.snapshot()
    assert snap["dropped_bad_frame"] == 9 and snap["dropped_invalid_json"] == 1
    assert snap["dropped_not_audit_event"] == 1 and snap["dropped_bad_timestamp"] == 1
    assert snap["frames_received"] == 12 and snap["events_ingested"] == 0


def test_cluster_name_is_added_when_absent():
    c, q, f = _feeder()
    f.set_cluster_name('prod "eu"')
    base = {"kind": "Event", "stageTimestamp": "2026-01-01T00:00:00Z", "auditID": "a"}
    cases = [dict(base), dict(base, annotations={}), dict(base, annotations={"x": "y"}),
             dict(base, annotations={"cluster_name": "other"})]
    for ev in cases:
        f.feed_ldp_frame(gelf_frame(json.dumps(ev)).encode())     # not compact: minified
    out = [json.loads(p) for _, p in q.next_batch()[1]]
    assert [e["annotations"]["cluster_name"] for e in out] == ['prod "eu"'] * 3 + ["other"]
    assert out[2]["annotations"]["x"] == "y"
    f.set_cluster_name(None)
    e = synthetic_events(1, prefix="nc")[0]
    f.feed_ldp_frame(gelf_frame(e).encode())
    assert q.next_batch()[1][0][1] == e.encode()


def test_dedupe_by_audit_id_and_stage_is_bounded():
    c, q, f = _feeder()
    f.set_dedupe(Dedupe(1000))
    ev = {"kind": "Event", "stageTimestamp": "2026-01-01T00:00:00Z", "auditID": "x",
          "stage": "ResponseStarted"}
    for _ in range(3):
        f.feed(json.dumps(ev).encode())
    ev["stage"] = "ResponseComplete"
    f.feed(json.dumps(ev).encode())
    del ev["auditID"]
    f.feed(json.dumps(ev).encode())
    f.feed(json.dumps(ev).encode())          # no auditID: never a duplicate
    assert len(q.next_batch()[1]) == 4 and c.snapshot()["duplicates_dropped"] == 2
    d = Dedupe(100)
    assert not any(dedupe_seen(d, f"id{i}") for i in range(100))
    assert all(dedupe_seen(d, f"id{i}") for i in range(100))          # remembered
    for i in range(100, 400):
        dedupe_seen(d, f"id{i}")
    assert not dedupe_seen(d, "id0")                                   # forgotten: bounded memory


def test_oversize_events_are_dropped():
    c, q, f = _feeder(max_event_size=300)
    small = {"kind": "Event", "stageTimestamp": "2026-01-01T00:00:00Z", "auditID": "s"}
    big = dict(small, auditID="b", pad="x" * 400)
    f.feed_ldp_frame(gelf_frame(json.dumps(big)).encode())
    f.feed_ldp_frame(gelf_frame(json.dumps(small)).encode())
    assert len(q.next_batch()[1]) == 1 and c.snapshot()["dropped_oversize"] == 1


# ---------------------------------------------------------------------------------------------
# through the Python host

def test_n_events_in_order_byte_identical(lib, server):
    evs = synthetic_events(3000, prefix="ord")
    with lib.init(cfg()) as st:
        inst = st.open(server.url())
        assert server.wait_clients(1)
        for i in range(0, len(evs), 500):
            server.publish(evs[i:i + 500])
        got = drain(inst, len(evs))
        assert [e.payload for e in got] == [e.encode() for e in evs]
        m = st.metrics()
        assert m["frames_received"] == 3000 and m["events_delivered"] == 3000
        assert m["connected"] == 1 and m["reconnects"] == 0 and m["lag_ms"] < 60000
        inst.close()


def test_wss_with_a_private_ca(lib, tls, tmp_path):
    ca, server_ctx = tls
    evs = synthetic_events(200, prefix="tls")
    with LdpServer(token=TOKEN, ssl_context=server_ctx, host="127.0.0.1") as srv:
        with lib.init(cfg(ldpCAFile=ca)) as st:
            inst = st.open(srv.url(host="localhost"))
            assert srv.wait_clients(1)
            srv.publish(evs)
            assert [e.payload for e in drain(inst, 200)] == [e.encode() for e in evs]
            inst.close()
        # without the CA: not trusted; reported in plain words, retried (not fatal)
        lines = []
        rc = ldp_check(srv.url(host="localhost"), config_mod.parse(cfg()), events=1, timeout=2,
                       out=lines.append)
        text = "\n".join(lines)
        assert rc == 1 and "certificate verification failed" in text and "ldpCAFile" in text
        assert TOKEN not in text
        with lib.init(cfg()) as st:
            inst = st.open(srv.url(host="localhost"))
            srv.publish(synthetic_events(5, prefix="untrusted"))
            assert drain(inst, 5, timeout=1.5) == []     # published, but not to an untrusted peer
            assert st.metrics()["connected"] == 0 and srv.handshakes == 1
            inst.close()
    with lib.init(cfg(ldpCAFile=str(tmp_path / "missing.pem"))) as st:
        with pytest.raises(PluginError, match="ldpCAFile"):
            st.open("wss://localhost:1/tail/?tk=" + TOKEN)


@pytest.mark.parametrize("status,words", [(401, "refused the token"), (403, "Forbidden"),
                                          (404, "Not Found"), (400, "Bad Request")])
def test_config_errors_at_handshake_fail_open_clearly(lib, server, status, words):
    server.reject(status)
    with lib.init(cfg()) as st:
        t0 = time.monotonic()
        with pytest.raises(PluginError) as e:
            st.open(server.url())
        assert time.monotonic() - t0 < 20     # an answer, not a hang
        msg = str(e.value)
        assert f"HTTP {status}" in msg and words in msg and "tk=***" in msg
        assert TOKEN not in msg and TOKEN not in st.last_error()


def test_wrong_token_is_401(lib, server):
    with lib.init(cfg()) as st:
        with pytest.raises(PluginError, match="401") as e:
            st.open(server.url(token="wr0ng-t0ken-777"))
        assert "wr0ng-t0ken-777" not in str(e.value)


def test_transient_statuses_are_retried(lib, server):
    server.reject(503, 2)
    server.reject(502)
    evs = synthetic_events(5, prefix="tr")
    with lib.init(cfg()) as st:
        inst = st.open(server.url())          # open does not fail on a 5xx
        assert server.wait_clients(1, timeout=20)
        assert server.rejected == [503, 503, 502]
        server.publish(evs)
        assert len(drain(inst, 5)) == 5
        inst.close()


def test_malformed_frames_are_not_fatal(lib, server):
    evs = synthetic_events(20, prefix="mal")
    with lib.init(cfg()) as st:
        inst = st.open(server.url())
        assert server.wait_clients(1)
        server.send_raw(["garbage", '{"message":"{oops"}', '{"message":42}', "[]"])
        server.publish(evs[:10])
        server.send_raw([gelf_frame("I0416 12:00:00 not an audit event"), "\u00e9t\u00e9"])
        server.publish(evs[10:])
        got = drain(inst, 20)
        assert [e.payload for e in got] == [e.encode() for e in evs]
        m = st.metrics()
        assert m["dropped_bad_frame"] == 5 and m["dropped_invalid_json"] == 1
        assert m["reconnects"] == 0
        inst.close()


def test_oversize_frame_is_counted_and_the_stream_goes_on(lib, server):
    with lib.init(cfg(maxEventSize=2000)) as st:      # frames up to 8 x 2000 + 64 KiB
        inst = st.open(server.url())
        assert server.wait_clients(1)
        server.send_raw([gelf_frame("x" * 100000)])
        assert server.wait_clients(1, handshakes=2, timeout=20)
        server.publish(synthetic_events(3, prefix="big"))
        assert len(drain(inst, 3)) == 3
        m = st.metrics()
        assert m["dropped_oversize"] == 1 and m["reconnects"] >= 1
        inst.close()


def test_backpressure_stops_reading_without_dropping_or_reconnecting(lib, server):
    n = 24000   # more than the queue holds (16384 events)
    evs = synthetic_events(n, prefix="bp")
    with lib.init(cfg()) as st:
        inst = st.open(server.url())
        assert server.wait_clients(1)
        pub = threading.Thread(target=lambda: [server.publish(evs[i:i + 2000])
                                               for i in range(0, n, 2000)])
        pub.start()
        assert wait_for(lambda: st.metrics()["events_ingested"] >= 16384, timeout=20)
        m0 = st.metrics()
        time.sleep(4.5)   # longer than ping interval + pong timeout, while nobody reads
        m = st.metrics()
        # reading stopped: the queue is full, nothing was delivered, nothing more ingested
        assert m["events_ingested"] == m0["events_ingested"] == m["queue_depth"] < n
        assert m["events_delivered"] == 0 and m["queue_depth"] >= 16384 - 256
        assert m["reconnects"] == 0 and m["connected"] == 1
        got = drain(inst, n, timeout=30)
        pub.join(10)
        assert len(got) == n and got[0].payload == evs[0].encode()
        assert got[-1].payload == evs[-1].encode()
        assert st.metrics()["reconnects"] == 0
        inst.close()


def test_idle_connection_stays_up(lib, server):
    with lib.init(cfg(ldpPingInterval=0.2, ldpPingTimeout=1.5)) as st:
        inst = st.open(server.url())
        assert server.wait_clients(1)
        end = time.monotonic() + 4.0        # 20 ping intervals, over 2 pong timeouts, of silence
        while time.monotonic() < end:
            assert inst.next_batch()[1] == []
        assert st.metrics()["reconnects"] == 0 and server.handshakes == 1
        server.publish(synthetic_events(1, prefix="idle"))
        assert len(drain(inst, 1)) == 1
        inst.close()


def test_dead_connection_is_detected_and_reopened(lib, server):
    with lib.init(cfg(ldpPingInterval=0.2, ldpPingTimeout=1.0)) as st:
        inst = st.open(server.url())
        assert server.wait_clients(1)
        server.silence()
        assert wait_for(lambda: server.handshakes >= 2 and server.live_clients == 1, timeout=20)
        server.publish(synthetic_events(3, prefix="dead"))
        assert len(drain(inst, 3)) == 3
        assert st.metrics()["reconnects"] >= 1
        inst.close()


def test_close_is_prompt(lib, server):
    with lib.init(cfg()) as st:
        inst = st.open(server.url())
        assert server.wait_clients(1)
        t0 = time.monotonic()
        inst.close()
        assert time.monotonic() - t0 < 5       # not a ping timeout or a connect timeout
        assert wait_for(lambda: server.live_clients == 0, timeout=5)
        assert st.metrics()["connected"] == 0


def test_close_during_a_hanging_handshake_is_prompt(lib):
    # A loopback listener that accepts and never answers: the handshake hangs.
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(8)
    port = lsock.getsockname()[1]
    try:
        with lib.init(cfg(ldpConnectTimeout=30)) as st:
            t0 = time.monotonic()
            inst = st.open(f"ws://127.0.0.1:{port}/tail/?tk={TOKEN}")
            assert time.monotonic() - t0 < 20     # open waits a bounded time, not 30 s
            t0 = time.monotonic()
            inst.close()
            assert time.monotonic() - t0 < 10     # cancels the handshake, not 30 s
    finally:
        lsock.close()


def test_several_streams_with_cluster_names(lib):
    with LdpServer(token="tok-a-111") as a, LdpServer(token="tok-b-222") as b:
        ea, eb = synthetic_events(40, prefix="ca"), synthetic_events(40, prefix="cb")
        tagged = json.loads(eb[0])
        tagged["annotations"]["cluster_name"] = "explicit"
        eb[0] = json.dumps(tagged, separators=(",", ":"))
        params = a.url(fragment="cluster=paris") + " , " + b.url(fragment="cluster=roubaix")
        with lib.init(cfg()) as st:
            inst = st.open(params)
            assert a.wait_clients(1) and b.wait_clients(1)
            assert wait_for(lambda: st.metrics()["connected"] == 2, timeout=3)
            a.publish(ea)
            b.publish(eb)
            got = [json.loads(e.payload) for e in drain(inst, 80)]
            assert len(got) == 80
            names = {e["auditID"]: e["annotations"]["cluster_name"] for e in got}
            assert all(names[json.loads(x)["auditID"]] == "paris" for x in ea)
            assert names[tagged["auditID"]] == "explicit"
            assert all(names[json.loads(x)["auditID"]] == "roubaix" for x in eb[1:])
            inst.close()


def test_https_proxy_is_honoured(lib, tls, monkeypatch):
    ca, server_ctx = tls
    with LdpServer(token=TOKEN, ssl_context=server_ctx) as srv, ConnectProxy() as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        url = srv.url(host="localhost")
        assert ldp_connect.proxy_for(ldp.parse_url(url)) is None     # loopback: never proxied...
        monkeypatch.setattr(ldp_connect, "is_loopback", lambda host: False)   # ...unless we pretend
        with lib.init(cfg(ldpCAFile=ca)) as st:
            inst = st.open(url)
            assert srv.wait_clients(1)
            srv.publish(synthetic_events(5, prefix="px"))
            assert len(drain(inst, 5)) == 5
            inst.close()
        assert proxy.connects == [f"localhost:{srv.port}"]


def _scenario(server, check_progress, replay: bool):
    """Publish batches around faults: TCP drop, silence (pings unanswered), 503s. Returns the
    published events. `check_progress(n)` waits until n events were delivered."""
    published = []

    def pub(n, prefix):
        evs = synthetic_events(n, prefix=prefix)
        server.publish(evs)
        published.extend(evs)

    assert server.wait_clients(1)
    pub(300, "a")
    check_progress(300)
    server.drop()                                  # 1. TCP drop mid-stream
    pub(200, "b")                                  # missed live (unless replayed)
    assert server.wait_clients(1, handshakes=2, timeout=20)
    pub(200, "c")
    if not replay:
        check_progress(500)
    server.silence()                               # 2. silent, pings unanswered
    pub(100, "d")                                  # silenced clients get nothing
    assert server.wait_clients(1, handshakes=3, timeout=20)
    server.reject(503, 2)                          # 3. 503 at the next handshakes
    server.drop()
    pub(100, "e")
    assert server.wait_clients(1, handshakes=4, timeout=20)
    pub(300, "f")                                  # 4. recovered
    return published


def _draining_into(got, inst):
    """The scenario's progress callback: drain inst into got until it holds n events."""
    def progress(n):
        got.extend(drain(inst, n - len(got)))
        assert len(got) >= n
    return progress


def test_faults_and_replay_through_python_host(lib, server):
    with lib.init(cfg(ldpReplayOnReconnect=True)) as st:
        inst = st.open(server.url())
        got = []
        progress = _draining_into(got, inst)
        published = _scenario(server, progress, replay=True)
        got.extend(drain(inst, len(published) - len(got), timeout=20))
        assert wait_for(lambda: server.replays >= 3, timeout=20)
        got.extend(drain(inst, 10 ** 6, timeout=1.5))       # anything extra would be a dupe
        payloads = [e.payload.decode() for e in got]
        assert len(payloads) == len(set(payloads)), "duplicates delivered"
        assert set(payloads) == set(published), "events missing"
        m = st.metrics()
        assert m["reconnects"] >= 3 and m["duplicates_dropped"] > 0 and m["connected"] == 1
        assert server.rejected == [503, 503]
        replays = [p for p in server.requests if "begin=" in p]
        assert replays and all("&end=" in p for p in replays)
        inst.close()


def test_faults_without_replay_lose_only_the_gaps(lib, server):
    with lib.init(cfg(ldpReplayOnReconnect=False)) as st:
        inst = st.open(server.url())
        got = []
        progress = _draining_into(got, inst)
        published = _scenario(server, progress, replay=False)
        got.extend(drain(inst, 10 ** 6, timeout=2))
        first = [e.payload.decode() for e in got[:300]]
        assert first == published[:300]          # before any fault: all, in order
        payloads = {e.payload.decode() for e in got}
        assert {e for e in published if '"auditID":"f-' in e} <= payloads
        assert {e for e in published if '"auditID":"c-' in e} <= payloads
        assert not any('"auditID":"d-' in p for p in payloads)     # published while silenced
        assert st.metrics()["reconnects"] >= 3 and server.replays == 0
        inst.close()


# ---------------------------------------------------------------------------------------------
# through the C host (a process without Python, like Falco)

def test_c_host_n_events_in_order(c_host, plugin_lib, server):
    evs = synthetic_events(2000, prefix="ch")
    run = HostRun(c_host, plugin_lib, ["--config", cfg(), "--open", server.url(),
                                       "--max-events", str(len(evs)), "--max-seconds", "30"])
    assert server.wait_clients(1, timeout=15)
    server.publish(evs)
    assert run.finish() == 0, run.stderr()
    assert [e["payload"] for e in run.events] == evs
    summary = run.lines[-1]
    assert summary["end"] == "MAX" and summary["metrics"]["frames_received"] == 2000


def test_c_host_faults_with_replay(c_host, plugin_lib, server):
    args = ["--config", cfg(ldpReplayOnReconnect=True, ldpStatsInterval=0.5), "--open",
            server.url(fragment="cluster=mks-test"), "--max-seconds", "60", "--metrics-thread",
            "--field", "ka.verb", "--field", "ka.cluster.name"]
    run = HostRun(c_host, plugin_lib, args + ["--max-events", "1200"])
    assert server.wait_clients(1, timeout=15)
    published = _scenario(server, run.wait_events, replay=True)
    assert len(published) == 1200
    assert run.finish(timeout=60) == 0, run.stderr()
    summary = run.lines[-1]
    assert summary["end"] == "MAX", summary          # neither EOF nor FAILURE
    got = [json.loads(e["payload"]) for e in run.events]
    ids = [e["auditID"] for e in got]
    assert len(ids) == len(set(ids)) == 1200
    assert set(ids) == {json.loads(p)["auditID"] for p in published}
    assert all(e["annotations"]["cluster_name"] == "mks-test" for e in got)
    m = summary["metrics"]
    assert m["reconnects"] >= 3
    err = run.stderr()
    assert "reconnected" in err and "replayed" in err and "LDP: 1/1 connected" in err
    # the stats line says what the replays brought and dropped
    stats = [ln for ln in err.splitlines() if "LDP: 1/1 connected" in ln]
    assert any(" replays: " in ln and " duplicates dropped" in ln for ln in stats), stats[-1:]
    assert m["replayed_events"] > 0 and m["replays_failed"] == 0
    assert TOKEN not in err and TOKEN not in json.dumps(run.lines)


@pytest.mark.parametrize("status", [401, 403])
def test_c_host_open_fails_on_auth_errors(c_host, plugin_lib, server, run_host, status):
    server.reject(status)
    rc, lines, err = run_host([c_host, plugin_lib, "replay", "--config", cfg(), "--open",
                               server.url(), "--expect-open-fail"], timeout=60)
    assert rc == 0, err
    msg = lines[0]["open_error"]
    assert f"HTTP {status}" in msg and "tk=***" in msg
    assert TOKEN not in msg and TOKEN not in err


# ---------------------------------------------------------------------------------------------
# the command line

def _cli(args, timeout=60):
    env = dict(os.environ)
    pkg_parent = str(Path(k8saudit_ovh.__file__).parent.parent)
    env["PYTHONPATH"] = pkg_parent + os.pathsep + env.get("PYTHONPATH", "")
    r = subprocess.run([sys.executable, "-m", "k8saudit_ovh_cli.cli", *args], env=env,
                       capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    return r.returncode, r.stdout, r.stderr


def test_cli_check(server):
    def later():
        server.wait_clients(1, timeout=10)
        time.sleep(0.2)
        server.publish(synthetic_events(3, prefix="chk"))
    t = threading.Thread(target=later)
    t.start()
    rc, out, err = _cli(["check", server.url(), "--timeout", "10"])
    t.join()
    assert rc == 0, out + err
    assert "handshake : ok" in out and "3 frames, 3 audit events" in out and "result    : OK" in out
    assert TOKEN not in out + err
    server.reject(401)
    rc, out, err = _cli(["check", server.url(), "--timeout", "1"])
    assert rc == 2 and "HTTP 401" in out and TOKEN not in out + err
    rc, out, err = _cli(["check", "ws://example.com/tail/?tk=" + TOKEN])
    assert rc == 2 and "INVALID" in out and TOKEN not in out + err
    rc, out, err = _cli(["check", f"ws://127.0.0.1:{server.port}/nothing?tk={TOKEN}",
                         "--config", '{"ldpConnectTimeout": 1}', "--timeout", "1"])
    assert rc == 0 and "no event within" in out                 # the server accepts any path


def test_cli_tail_url(server):
    evs = synthetic_events(5, prefix="tail")

    def later():
        server.wait_clients(1, timeout=10)
        time.sleep(0.5)
        server.publish(evs)
    t = threading.Thread(target=later)
    t.start()
    rc, out, err = _cli(["tail", server.url(), "--max-events", "5", "--count-interval", "0.2",
                         "--config", cfg(), "--fields", "ka.verb,ka.target.resource"])
    t.join()
    assert rc == 0, err
    lines = [ln for ln in out.splitlines() if ln.strip()]
    assert len(lines) == 5 and all("ka.verb=" in ln for ln in lines)
    assert "-- " in err and "connected 1" in err
    assert TOKEN not in out + err


def test_token_never_printed_in_a_failing_session(c_host, plugin_lib, server):
    """Drops, dead connections, 503s, stats lines, a refused replay: nothing shows the token."""
    server.reject(503)
    run = HostRun(c_host, plugin_lib, ["--config", cfg(ldpReplayOnReconnect=True,
                                                       ldpStatsInterval=0.2),
                                       "--open", server.url(), "--max-seconds", "10",
                                       "--metrics-thread"])
    assert server.wait_clients(1, timeout=15)
    server.reject_replays(500, 3)         # the replay connections are refused
    server.drop()
    assert server.wait_clients(1, handshakes=2, timeout=20)
    server.silence()
    assert run.finish(timeout=30) == 0, run.stderr()
    assert run.lines[-1]["end"] == "TIME", run.lines[-1]
    err = run.stderr()
    assert "WARNING" in err and "503" in err and "tk=***" in err
    assert "replay of [" in err and "given up" in err and "dead connection" in err
    assert run.lines[-1]["metrics"]["replays_failed"] >= 1
    assert TOKEN not in err and TOKEN not in json.dumps(run.lines)
