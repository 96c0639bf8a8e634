"""The `k8saudit-ovh` command: where the library is, what it declares, and a live view of what
it produces (through the real library, driven like Falco drives it)."""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

from k8saudit_ovh import __version__, library_path

# The fields an operator looks at first (all used by the official k8s_audit_rules.yaml).
DEFAULT_FIELDS = [
    "ka.verb", "ka.user.name", "ka.target.resource", "ka.target.namespace", "ka.target.name",
    "ka.target.subresource", "ka.response.code", "ka.auth.decision",
]


def sample_path() -> str:
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "sample-audit.jsonl")


def _cmd_path(args) -> int:
    print(library_path())
    return 0


def _cmd_info(args) -> int:
    from .host import PluginLibrary
    lib = PluginLibrary(library_path())
    info = {
        "library": library_path(), "name": lib.name, "version": lib.version,
        "required_api_version": lib.required_api_version, "id": lib.id,
        "event_source": lib.event_source, "fields": len(lib.fields()),
    }
    print(json.dumps(info, indent=2))
    return 0


def _format(values: dict, specs: list[str]) -> str:
    parts = []
    for spec in specs:
        vals = values.get(spec)
        if not vals:
            text = "<NA>"
        elif len(vals) == 1:
            text = vals[0]
        else:
            text = "(" + ",".join(vals) + ")"
        parts.append(f"{spec}={text}")
    return " ".join(parts)


def _cmd_tail(args) -> int:
    from .host import PluginError, PluginLibrary
    specs = [s.strip() for s in args.fields.split(",") if s.strip()] if args.fields else DEFAULT_FIELDS
    lib = PluginLibrary(library_path())
    try:
        state = lib.init(args.config)
    except PluginError as exc:
        print(f"k8saudit-ovh: init failed: {exc}", file=sys.stderr)
        return 2
    try:
        try:
            inst = state.open(args.source)
        except PluginError as exc:
            print(f"k8saudit-ovh: open failed: {exc}", file=sys.stderr)
            return 3
        count = 0
        start = time.monotonic()
        ticker = _LiveCount(state, lambda: count, args.count_interval) if args.count_interval else None
        try:
            for ev in inst.events():
                count += 1
                stamp = time.strftime("%H:%M:%S", time.gmtime(ev.ts / 1e9)) + f".{ev.ts % 10**9:09d}"
                print(f"{stamp} #{ev.evtnum} {_format(state.extract(ev.payload, ev.evtnum, specs), specs)}",
                      flush=True)
                if args.max_events and count >= args.max_events:
                    break
        except KeyboardInterrupt:
            pass
        finally:
            if ticker:
                ticker.stop()
            inst.close()
        elapsed = max(time.monotonic() - start, 1e-9)
        metrics = {k: v for k, v in state.metrics().items() if v}
        print(f"-- {count} events in {elapsed:.2f}s; counters: "
              + ", ".join(f"{k}={v}" for k, v in sorted(metrics.items())), file=sys.stderr)
    finally:
        state.destroy()
    return 0


class _LiveCount:
    """A line on stderr every `interval` seconds: events so far, rate, connection counters."""

    def __init__(self, state, count, interval: float):
        import threading
        self.state, self.count, self.interval = state, count, interval
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        start = last_t = time.monotonic()
        last_n = 0
        while not self.done.wait(self.interval):
            now, n = time.monotonic(), self.count()
            m = self.state.metrics()
            dropped = sum(v for k, v in m.items() if k.startswith("dropped_"))
            parts = [f"{n} events ({(n - last_n) / max(now - last_t, 1e-9):.1f}/s)",
                     f"{now - start:.0f}s"]
            if m.get("frames_received") or m.get("connected") or m.get("reconnects"):
                parts += [f"connected {m.get('connected', 0)}", f"reconnects {m.get('reconnects', 0)}",
                          f"frames {m.get('frames_received', 0)}", f"lag {m.get('lag_ms', 0)} ms"]
            parts.append(f"dropped {dropped}")
            print("-- " + ", ".join(parts), file=sys.stderr, flush=True)
            last_t, last_n = now, n

    def stop(self):
        self.done.set()
        self.thread.join(1.0)


def _cmd_check(args) -> int:
    from k8saudit_ovh import config as config_mod
    from k8saudit_ovh import ldp

    from .check import check
    try:
        cfg = config_mod.parse(args.config)
    except config_mod.ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    addresses = ldp.split_params(args.url) or [args.url]
    rc = 0
    for address in addresses:
        print(f"k8saudit-ovh check {ldp.redact(address)}")
        rc = max(rc, check(address, cfg, events=args.events, timeout=args.timeout))
    return rc


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="k8saudit-ovh", description=__doc__)
    parser.add_argument("--version", action="version", version=f"k8saudit-ovh {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("path", help="print the absolute path of libk8saudit-ovh.so").set_defaults(func=_cmd_path)
    sub.add_parser("info", help="print what the library declares to Falco").set_defaults(func=_cmd_info)
    for name, helptext in (("tail", "print events and their ka.* fields from a source, through the library"),
                           ("demo", "replay the bundled sample MKS audit log through the library")):
        p = sub.add_parser(name, help=helptext)
        if name == "tail":
            p.add_argument("source", help="LDP WebSocket address (wss://<cluster>.logs.ovh.com/tail/"
                                          "?tk=<token>, several joined with ','), or an audit log "
                                          "file or directory (or file://path)")
        p.add_argument("--fields", help="comma-separated field specs (default: %s)" % ",".join(DEFAULT_FIELDS))
        p.add_argument("--config", default="{}", help="init config JSON (default {})")
        p.add_argument("--max-events", type=int, default=0, help="stop after N events")
        p.add_argument("--count-interval", type=float, default=5.0,
                       help="seconds between two live count lines on stderr (0: none; default 5)")
        p.set_defaults(func=_cmd_tail)
    p = sub.add_parser("check", help="connect to an LDP WebSocket address and report, in plain "
                                     "words, whether the connection, TLS, the token and the "
                                     "stream work (counts a few audit events)")
    p.add_argument("url", help="wss://<cluster>.logs.ovh.com/tail/?tk=<token> (or without wss://)")
    p.add_argument("--config", default="{}", help="init config JSON, e.g. for ldpCAFile (default {})")
    p.add_argument("--events", type=int, default=3, help="audit events to wait for (default 3)")
    p.add_argument("--timeout", type=float, default=30.0,
                   help="seconds to wait for those events (default 30)")
    p.set_defaults(func=_cmd_check)
    from k8saudit_ovh_release import artifact
    p = sub.add_parser("artifact", help="falcoctl plugin artifact: build, push, pull")
    artifact.add_arguments(p)
    p.set_defaults(func=artifact.run)
    args = parser.parse_args(argv)
    if args.command == "demo":
        args.source = sample_path()
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
