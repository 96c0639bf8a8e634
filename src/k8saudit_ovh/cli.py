"""The `k8saudit-ovh` command: where the library is, what it declares, and a live view of what
it produces (through the real library, driven like Falco drives it)."""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

from . import __version__, library_path

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
            inst.close()
        elapsed = max(time.monotonic() - start, 1e-9)
        metrics = {k: v for k, v in state.metrics().items() if v}
        print(f"-- {count} events in {elapsed:.2f}s; counters: "
              + ", ".join(f"{k}={v}" for k, v in sorted(metrics.items())), file=sys.stderr)
    finally:
        state.destroy()
    return 0


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
            p.add_argument("source", help="audit log file or directory (or file://path)")
        p.add_argument("--fields", help="comma-separated field specs (default: %s)" % ",".join(DEFAULT_FIELDS))
        p.add_argument("--config", default="{}", help="init config JSON (default {})")
        p.add_argument("--max-events", type=int, default=0, help="stop after N events")
        p.set_defaults(func=_cmd_tail)
    args = parser.parse_args(argv)
    if args.command == "demo":
        args.source = sample_path()
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
