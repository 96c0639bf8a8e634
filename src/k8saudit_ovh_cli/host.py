"""A Falco-like host for Falco plugins, in Python with ctypes (the "Python API" host).

It loads a plugin library (``dlopen(RTLD_LOCAL | RTLD_NOW)``, like Falco >= 0.42) and drives
it through the plugin C ABI (API 3.x): metadata, ``init``, ``open``/``next_batch``/``close``,
``extract_fields`` (one field per call, like libsinsp), ``event_to_string``, ``get_metrics``
and ``destroy``. Every event a batch delivers gets the in-place fixes that libscap applies
(plugin ID, ``tid``, ``ts``), and the plugin's side of the contract is checked on the way:
a violation raises :class:`ContractError`.

This module is self-contained (standard library only) so that it can drive any plugin,
including ``libk8saudit-ovh.so`` loaded in-process.

Example::

    lib = PluginLibrary(k8saudit_ovh.library_path())
    with lib.init("{}") as state:
        with state.open("/var/log/audit.jsonl") as inst:
            for ev in inst.events():
                print(ev.evtnum, ev.ts, state.extract(ev.payload, ev.evtnum, ["ka.verb"]))
"""

from __future__ import annotations

import ctypes
import json
import os
import struct
import time
from dataclasses import dataclass
import re
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

__all__ = [
    "ContractError",
    "Event",
    "FieldInfo",
    "HOST_API_VERSION",
    "InstanceHandle",
    "PluginError",
    "PluginLibrary",
    "StateHandle",
    "parse_spec",
    "resolve_field_spec",
    "SS_PLUGIN_SUCCESS",
    "SS_PLUGIN_FAILURE",
    "SS_PLUGIN_TIMEOUT",
    "SS_PLUGIN_EOF",
    "SS_PLUGIN_NOT_SUPPORTED",
]

HOST_API_VERSION = (3, 12, 0)

# ss_plugin_rc
SS_PLUGIN_SUCCESS = 0
SS_PLUGIN_FAILURE = 1
SS_PLUGIN_TIMEOUT = -1
SS_PLUGIN_EOF = 2
SS_PLUGIN_NOT_SUPPORTED = 3

# ss_plugin_schema_type
SS_PLUGIN_SCHEMA_NONE = 0
SS_PLUGIN_SCHEMA_JSON = 1

# ss_plugin_field_type
FTYPE_UINT64 = 8
FTYPE_STRING = 9
FTYPE_RELTIME = 20
FTYPE_ABSTIME = 21
FTYPE_BOOL = 25
FTYPE_IPADDR = 40
FTYPE_IPNET = 41
FIELD_TYPES = {
    "string": FTYPE_STRING,
    "uint64": FTYPE_UINT64,
    "reltime": FTYPE_RELTIME,
    "abstime": FTYPE_ABSTIME,
    "bool": FTYPE_BOOL,
    "ipaddr": FTYPE_IPADDR,
    "ipnet": FTYPE_IPNET,
}

# ss_plugin_metric_value_type
_METRIC_U32, _METRIC_S32, _METRIC_U64, _METRIC_S64, _METRIC_D, _METRIC_F, _METRIC_I = range(7)



def _event_layout() -> Dict[str, int]:
    """The plugin event layout, read from its one definition, include/k8saudit_event.h: the
    installed copy next to this file, else the source tree's (this module is also loaded
    straight from a checkout, without the package built)."""
    here = Path(__file__).resolve().parent
    for header in (here / "k8saudit_event.h", here.parents[1] / "include" / "k8saudit_event.h"):
        if header.is_file():
            found = dict(re.findall(r"^#define K8S_(\w+) (\d+)u\b", header.read_text(), re.M))
            return {k: int(v) for k, v in found.items()}
    raise ImportError(f"k8saudit_event.h is neither installed next to {__file__} nor in the source tree")


_LAYOUT = _event_layout()
PLUGIN_EVENT_TYPE = _LAYOUT["PLUGIN_EVENT_TYPE"]
PLUGIN_EVENT_NPARAMS = _LAYOUT["PLUGIN_EVENT_NPARAMS"]
PLUGIN_EVENT_PAYLOAD_OFFSET = _LAYOUT["PLUGIN_EVENT_PAYLOAD_OFFSET"]
UINT64_MAX = (1 << 64) - 1

def _api_symbols():
    """(name, kind) of every name Falco looks up with dlsym("plugin_" + name), in its order:
    read from their one definition, K8S_PLUGIN_API_SYMBOLS in include/falco_plugin_abi.h (the
    build installs it next to this file)."""
    here = Path(__file__).resolve().parent
    for header in (here / "falco_plugin_abi.h", here.parents[1] / "include" / "falco_plugin_abi.h"):
        if header.is_file():
            found = re.findall(r"^\s*X\((\w+), (REQUIRED|SOURCING|EXTRACTION|OPTIONAL)\)",
                               header.read_text(), re.M)
            if found:
                return found
    raise ImportError(f"falco_plugin_abi.h is neither installed next to {__file__} nor in the source tree")


_SYMBOLS = _api_symbols()
API_NAMES = tuple(n for n, _ in _SYMBOLS)
REQUIRED_NAMES = tuple(n for n, k in _SYMBOLS if k == "REQUIRED")
SOURCING_NAMES = tuple(n for n, k in _SYMBOLS if k == "SOURCING")
EXTRACTION_NAMES = tuple(n for n, k in _SYMBOLS if k == "EXTRACTION")


class PluginError(Exception):
    """A plugin call failed; the message is the plugin's get_last_error."""


class ContractError(PluginError):
    """The plugin broke the plugin API contract (what Falco would treat as fatal)."""


# --------------------------------------------------------------------------------------
# ctypes mirrors of include/falco_plugin_abi.h (API 3.0.0 members only)

c_rc = ctypes.c_int  # enums are int-sized


class ss_plugin_event(ctypes.Structure):
    """The libscap event header: packed, 26 bytes."""

    _pack_ = 1
    _layout_ = "ms"  # packed layout is the same in both; keeps Python >= 3.14 quiet
    _fields_ = [
        ("ts", ctypes.c_uint64),
        ("tid", ctypes.c_uint64),
        ("len", ctypes.c_uint32),
        ("type", ctypes.c_uint16),
        ("nparams", ctypes.c_uint32),
    ]


class ss_plugin_event_input(ctypes.Structure):
    _fields_ = [
        ("evt", ctypes.POINTER(ss_plugin_event)),
        ("evtnum", ctypes.c_uint64),
        ("evtsrc", ctypes.c_char_p),
    ]


class ss_plugin_byte_buffer(ctypes.Structure):
    _fields_ = [("len", ctypes.c_uint32), ("ptr", ctypes.c_void_p)]


class _extract_res(ctypes.Union):
    _fields_ = [
        ("str", ctypes.POINTER(ctypes.c_char_p)),
        ("u64", ctypes.POINTER(ctypes.c_uint64)),
        ("u32", ctypes.POINTER(ctypes.c_uint32)),
        ("boolean", ctypes.POINTER(ctypes.c_uint32)),
        ("buf", ctypes.POINTER(ss_plugin_byte_buffer)),
    ]


class ss_plugin_extract_field(ctypes.Structure):
    _fields_ = [
        ("res", _extract_res),
        ("res_len", ctypes.c_uint64),
        ("field_id", ctypes.c_uint32),
        ("field", ctypes.c_char_p),
        ("arg_key", ctypes.c_char_p),
        ("arg_index", ctypes.c_uint64),
        ("arg_present", ctypes.c_uint32),
        ("ftype", ctypes.c_uint32),
        ("flist", ctypes.c_uint32),
    ]


_owner_last_error_fn = ctypes.CFUNCTYPE(ctypes.c_char_p, ctypes.c_void_p)


class ss_plugin_field_extract_input(ctypes.Structure):
    _fields_ = [
        ("owner", ctypes.c_void_p),
        ("get_owner_last_error", _owner_last_error_fn),
        ("num_fields", ctypes.c_uint32),
        ("fields", ctypes.POINTER(ss_plugin_extract_field)),
        ("table_reader_opaque", ctypes.c_void_p * 4),
    ]


class ss_plugin_init_input(ctypes.Structure):
    _fields_ = [
        ("config", ctypes.c_char_p),
        ("owner", ctypes.c_void_p),
        ("get_owner_last_error", _owner_last_error_fn),
        ("tables", ctypes.c_void_p),
    ]


class ss_plugin_metric_value(ctypes.Union):
    _fields_ = [
        ("u32", ctypes.c_uint32),
        ("s32", ctypes.c_int32),
        ("u64", ctypes.c_uint64),
        ("s64", ctypes.c_int64),
        ("d", ctypes.c_double),
        ("f", ctypes.c_float),
        ("i", ctypes.c_int),
    ]


class ss_plugin_metric(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("type", ctypes.c_int),
        ("value", ss_plugin_metric_value),
        ("value_type", ctypes.c_int),
    ]


for _t, _size in (
    (ss_plugin_event, 26),
    (ss_plugin_event_input, 24),
    (ss_plugin_extract_field, 64),
    (ss_plugin_field_extract_input, 64),
    (ss_plugin_init_input, 32),
    (ss_plugin_metric, 32),
    (ss_plugin_byte_buffer, 16),
):
    if ctypes.sizeof(_t) != _size:  # pragma: no cover - layout guard
        raise ImportError(f"{_t.__name__} is {ctypes.sizeof(_t)} bytes, expected {_size}")
assert ss_plugin_extract_field.arg_index.offset == 40
assert ss_plugin_extract_field.flist.offset == 56
assert ss_plugin_field_extract_input.fields.offset == 24

# ts, tid, len, type, nparams, len(param 0), len(param 1), plugin id: the header's fields in
# order, checked against the header's offsets so that a layout change cannot go unnoticed.
_EVENT_HEADER = struct.Struct("<QQIHIIII")
_EVENT_FIELD_OFFSETS = ("EVT_TS_OFFSET", "EVT_TID_OFFSET", "EVT_LEN_OFFSET", "EVT_TYPE_OFFSET",
                        "EVT_NPARAMS_OFFSET", "EVT_PARAM0_LEN_OFFSET", "EVT_PARAM1_LEN_OFFSET",
                        "EVT_PLUGIN_ID_OFFSET")
if (_EVENT_HEADER.size != PLUGIN_EVENT_PAYLOAD_OFFSET
        or [struct.calcsize("<" + _EVENT_HEADER.format[1:1 + i]) for i in range(8)]
        != [_LAYOUT[k] for k in _EVENT_FIELD_OFFSETS]):  # pragma: no cover - layout guard
    raise ImportError(f"the ctypes host's event header does not match k8saudit_event.h: {_LAYOUT}")


@ctypes.CFUNCTYPE(ctypes.c_char_p, ctypes.c_void_p)
def _host_owner_last_error(owner):  # pragma: no cover - only called by plugins
    return None


_OWNER = ctypes.c_int(0)  # an opaque, stable owner handle


# --------------------------------------------------------------------------------------
# helpers


def _parse_version3(s: str) -> Optional[Tuple[int, int, int]]:
    parts = s.split(".", 2)
    if len(parts) != 3:
        return None
    last = parts[2]
    for sep in "-+":
        last = last.split(sep, 1)[0]
    nums = [parts[0], parts[1], last]
    if not all(p.isdigit() and p.isascii() for p in nums):
        return None
    return int(nums[0]), int(nums[1]), int(nums[2])


def _decode(b: Optional[bytes]) -> str:
    return "" if b is None else b.decode("utf-8", errors="replace")


def parse_spec(spec: str) -> Tuple[str, Optional[str]]:
    """Splits a field spec like libsinsp: the name runs up to the first ``[``; the argument
    is the text up to the next ``]``. Returns ``(name, arg_text)``, ``arg_text`` None when
    no brackets were given. Raises ValueError for a missing ``]`` or text after it."""
    lb = spec.find("[")
    if lb < 0:
        return spec, None
    rb = spec.find("]", lb + 1)
    if rb < 0:
        raise ValueError(f"field spec {spec!r}: missing ']'")
    if rb != len(spec) - 1:
        raise ValueError(f"field spec {spec!r}: unexpected text after ']'")
    return spec[:lb], spec[lb + 1 : rb]


def _index_value(text: str) -> Optional[int]:
    """The numeric index of an argument, as libsinsp accepts it (digits, no leading 0)."""
    if not text or not text.isascii() or not text.isdigit():
        return None
    if len(text) > 1 and text[0] == "0":
        return None
    v = int(text)
    return v if v <= UINT64_MAX else None


@dataclass(frozen=True)
class FieldInfo:
    """One entry of get_fields, with its index (the field_id)."""

    field_id: int
    name: str
    type: str
    ftype: int
    is_list: bool
    is_index: bool
    is_key: bool
    is_required: bool
    desc: str


@dataclass(frozen=True)
class _Spec:
    spec: str
    field: FieldInfo
    name_b: bytes
    arg_key_b: Optional[bytes]
    arg_present: bool
    index: Optional[int]


def resolve_field_spec(spec: str, fields_by_name: Dict[str, FieldInfo], arg_default: str = "max") -> _Spec:
    """Resolves a field spec against a plugin's fields as libsinsp does when it compiles a rule.
    arg_default: the arg_index sent when no numeric argument is given, "max" (UINT64_MAX, Falco
    >= 0.44) or "zero" (older Falco). Raises ValueError for a spec libsinsp rejects."""
    name, arg = parse_spec(spec)
    f = fields_by_name.get(name)
    if f is None:
        raise ValueError(f"field spec {spec!r}: no field named {name!r}")
    index = None
    if arg is not None:
        if not (f.is_index or f.is_key):
            raise ValueError(f"field spec {spec!r}: {name!r} does not accept an argument")
        index = _index_value(arg) if f.is_index else None
        if f.is_index and not f.is_key and index is None:
            raise ValueError(f"field spec {spec!r}: the argument must be a numeric index")
    elif f.is_required:
        raise ValueError(f"field spec {spec!r}: {name!r} requires an argument")
    if arg_default not in ("max", "zero"):
        raise ValueError("arg_default must be 'max' or 'zero'")
    return _Spec(
        spec=spec,
        field=f,
        name_b=name.encode(),
        arg_key_b=arg.encode() if (arg is not None and f.is_key) else None,
        arg_present=arg is not None,
        index=index if index is not None else (UINT64_MAX if arg_default == "max" else 0),
    )


@dataclass(frozen=True)
class Event:
    """An event delivered by next_batch (after the host's in-place fixes)."""

    evtnum: int
    ts: int
    payload: bytes


def _build_event(payload: bytes, plugin_id: int, ts: int = 0):
    """A type-322 event in ctypes memory: header, param lengths 4 and N, the ID, payload."""
    n = len(payload)
    buf = ctypes.create_string_buffer(PLUGIN_EVENT_PAYLOAD_OFFSET + n)
    _EVENT_HEADER.pack_into(
        buf, 0, ts, UINT64_MAX, PLUGIN_EVENT_PAYLOAD_OFFSET + n, PLUGIN_EVENT_TYPE,
        PLUGIN_EVENT_NPARAMS, 4, n, plugin_id,
    )
    ctypes.memmove(ctypes.addressof(buf) + PLUGIN_EVENT_PAYLOAD_OFFSET, payload, n)
    return buf


# --------------------------------------------------------------------------------------
# the library


class PluginLibrary:
    """A plugin library, loaded and checked the way Falco registers it (no init)."""

    def __init__(self, path: str | os.PathLike):
        self.path = os.fspath(path)
        self._lib = ctypes.CDLL(self.path, mode=os.RTLD_LOCAL | os.RTLD_NOW)
        self.exported: List[str] = []
        self._fn: Dict[str, object] = {}
        for name in API_NAMES:
            try:
                fn = getattr(self._lib, "plugin_" + name)
            except AttributeError:
                continue
            self.exported.append("plugin_" + name)
            self._fn[name] = fn
        missing = [n for n in REQUIRED_NAMES if n not in self._fn]
        if missing:
            raise ContractError("required symbols missing: " + ", ".join("plugin_" + m for m in missing))
        self._setup_signatures()

        self.required_api_version = self._stable_str("get_required_api_version")
        self._check_api_version(self.required_api_version)
        self.name = self._stable_str("get_name")
        self.description = self._stable_str("get_description")
        self.contact = self._stable_str("get_contact")
        self.version = self._stable_str("get_version")
        if _parse_version3(self.version) is None:
            raise ContractError(f"plugin provided an invalid version string {self.version!r}")

        self.has_sourcing = all(n in self._fn for n in SOURCING_NAMES[2:])
        if any(n in self._fn for n in SOURCING_NAMES[2:]) and not self.has_sourcing:
            raise ContractError("sourcing capability is broken: open/close/next_batch incomplete")
        self.id = 0
        self.event_source = ""
        if "get_id" in self._fn:
            self.id = int(self._fn["get_id"]())
            if int(self._fn["get_id"]()) != self.id:
                raise ContractError("plugin_get_id is not stable")
        if "get_event_source" in self._fn:
            self.event_source = self._stable_str("get_event_source")
        if self.has_sourcing and (self.id != 0) != (self.event_source != ""):
            raise ContractError(
                f"sourcing capability is broken: id {self.id} with source {self.event_source!r}"
            )
        if self.event_source == "syscall":
            raise ContractError("event source 'syscall' is reserved")

        self.has_extraction = "extract_fields" in self._fn and "get_fields" in self._fn
        if "extract_fields" in self._fn and "get_fields" not in self._fn:
            raise ContractError("extraction capability is broken: get_fields is missing")
        self._fields_json = self._stable_str("get_fields") if "get_fields" in self._fn else "[]"
        self._fields = self._parse_fields(self._fields_json) if self.has_extraction else []
        self._by_name = {f.name: f for f in self._fields}

        self.extract_event_sources: Optional[list] = None
        if "get_extract_event_sources" in self._fn:
            raw = self._stable_str("get_extract_event_sources", allow_null=True)
            if raw:
                try:
                    v = json.loads(raw)
                except ValueError as e:
                    raise ContractError(f"get_extract_event_sources: invalid JSON: {e}") from None
                if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
                    raise ContractError("get_extract_event_sources: not an array of strings")
                self.extract_event_sources = v

        t1, s1 = self._raw_init_schema()
        t2, s2 = self._raw_init_schema()
        if (t1, s1) != (t2, s2):
            raise ContractError("plugin_get_init_schema is not stable")
        self.init_schema_type = t1
        self._init_schema_raw = s1
        if s1 is not None and t1 == SS_PLUGIN_SCHEMA_JSON:
            try:
                v = json.loads(s1)
            except ValueError as e:
                raise ContractError(f"get_init_schema: invalid JSON: {e}") from None
            if not isinstance(v, dict):
                raise ContractError("get_init_schema: the schema is not a JSON object")

    # -- symbols ----------------------------------------------------------------------

    def _setup_signatures(self) -> None:
        f = self._fn
        for name in ("get_required_api_version", "get_version", "get_name", "get_description",
                     "get_contact", "get_event_source", "get_fields", "get_extract_event_sources"):
            if name in f:
                f[name].restype = ctypes.c_char_p
                f[name].argtypes = []
        if "get_id" in f:
            f["get_id"].restype = ctypes.c_uint32
            f["get_id"].argtypes = []
        if "get_init_schema" in f:
            f["get_init_schema"].restype = ctypes.c_char_p
            f["get_init_schema"].argtypes = [ctypes.POINTER(ctypes.c_int)]
        f["init"].restype = ctypes.c_void_p
        f["init"].argtypes = [ctypes.POINTER(ss_plugin_init_input), ctypes.POINTER(c_rc)]
        f["destroy"].restype = None
        f["destroy"].argtypes = [ctypes.c_void_p]
        f["get_last_error"].restype = ctypes.c_char_p
        f["get_last_error"].argtypes = [ctypes.c_void_p]
        if "open" in f:
            f["open"].restype = ctypes.c_void_p
            f["open"].argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(c_rc)]
        if "close" in f:
            f["close"].restype = None
            f["close"].argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        if "next_batch" in f:
            f["next_batch"].restype = c_rc
            f["next_batch"].argtypes = [
                ctypes.c_void_p, ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint32),
                ctypes.POINTER(ctypes.POINTER(ctypes.c_void_p)),
            ]
        if "event_to_string" in f:
            f["event_to_string"].restype = ctypes.c_char_p
            f["event_to_string"].argtypes = [ctypes.c_void_p, ctypes.POINTER(ss_plugin_event_input)]
        if "extract_fields" in f:
            f["extract_fields"].restype = c_rc
            f["extract_fields"].argtypes = [
                ctypes.c_void_p, ctypes.POINTER(ss_plugin_event_input),
                ctypes.POINTER(ss_plugin_field_extract_input),
            ]
        if "get_metrics" in f:
            f["get_metrics"].restype = ctypes.POINTER(ss_plugin_metric)
            f["get_metrics"].argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint32)]
        if "list_open_params" in f:
            f["list_open_params"].restype = ctypes.c_char_p
            f["list_open_params"].argtypes = [ctypes.c_void_p, ctypes.POINTER(c_rc)]

    def _stable_str(self, name: str, allow_null: bool = False) -> Optional[str]:
        a = self._fn[name]()
        b = self._fn[name]()
        if a is None or b is None:
            if allow_null and a is None and b is None:
                return None
            raise ContractError(f"plugin_{name} returned NULL")
        if a != b:
            raise ContractError(f"plugin_{name} is not stable: {a!r} then {b!r}")
        return a.decode("utf-8")

    @staticmethod
    def _check_api_version(req: str) -> None:
        v = _parse_version3(req)
        if v is None:
            raise ContractError(f"invalid required API version {req!r}")
        hmaj, hmin, hpat = HOST_API_VERSION
        if v[0] != hmaj:
            raise ContractError(f"required API version {req}: major versions disagree")
        if hmin < v[1]:
            raise ContractError(f"required API version {req}: host minor is less than requested")
        if hmin == v[1] and hpat < v[2]:
            raise ContractError(f"required API version {req}: host patch is less than requested")

    def _raw_init_schema(self) -> Tuple[int, Optional[str]]:
        if "get_init_schema" not in self._fn:
            return SS_PLUGIN_SCHEMA_NONE, None
        t = ctypes.c_int(SS_PLUGIN_SCHEMA_NONE)
        s = self._fn["get_init_schema"](ctypes.byref(t))
        if t.value not in (SS_PLUGIN_SCHEMA_NONE, SS_PLUGIN_SCHEMA_JSON):
            raise ContractError(f"get_init_schema: unknown schema type {t.value}")
        if not s or t.value == SS_PLUGIN_SCHEMA_NONE:
            return t.value, None
        return t.value, s.decode("utf-8")

    @staticmethod
    def _parse_fields(raw: str) -> List[FieldInfo]:
        try:
            arr = json.loads(raw)
        except ValueError as e:
            raise ContractError(f"get_fields: invalid JSON: {e}") from None
        if not isinstance(arr, list) or not arr:
            raise ContractError("get_fields: not a non-empty JSON array")
        out: List[FieldInfo] = []
        seen = set()

        def flag(obj: dict, key: str, fname: str) -> bool:
            v = obj.get(key, False)
            if not isinstance(v, bool):
                raise ContractError(f"get_fields: {key} of {fname!r} is not a boolean")
            return v

        for i, f in enumerate(arr):
            if not isinstance(f, dict):
                raise ContractError(f"get_fields: entry {i} is not an object")
            name = f.get("name")
            if not isinstance(name, str) or not name:
                raise ContractError(f"get_fields: entry {i} has no name")
            typ = f.get("type")
            if typ not in FIELD_TYPES:
                raise ContractError(f"get_fields: field {name!r} has an invalid type {typ!r}")
            desc = f.get("desc")
            if not isinstance(desc, str) or not desc:
                raise ContractError(f"get_fields: field {name!r} has no desc")
            arg = f.get("arg", {})
            if not isinstance(arg, dict):
                raise ContractError(f"get_fields: arg of {name!r} is not an object")
            is_req, is_idx, is_key = (flag(arg, k, name) for k in ("isRequired", "isIndex", "isKey"))
            if is_req and not (is_idx or is_key):
                raise ContractError(f"get_fields: {name!r} requires an argument of no kind")
            if name in seen:
                raise ContractError(f"get_fields: field {name!r} is declared twice")
            seen.add(name)
            out.append(FieldInfo(i, name, typ, FIELD_TYPES[typ], flag(f, "isList", name),
                                 is_idx, is_key, is_req, desc))
        return out

    # -- public metadata ----------------------------------------------------------------

    def fields(self) -> List[dict]:
        """The get_fields JSON, parsed (a list of dicts, in field_id order)."""
        return json.loads(self._fields_json)

    def field_infos(self) -> List[FieldInfo]:
        return list(self._fields)

    def fields_json(self) -> str:
        return self._fields_json

    def init_schema(self) -> Optional[dict]:
        """The init schema parsed, or None when the plugin has none."""
        if self._init_schema_raw is None or self.init_schema_type != SS_PLUGIN_SCHEMA_JSON:
            return None
        return json.loads(self._init_schema_raw)

    def init_schema_raw(self) -> Optional[str]:
        return self._init_schema_raw

    def resolve_spec(self, spec: str, arg_default: str = "max") -> _Spec:
        """Resolves a field spec as libsinsp does when it compiles a rule."""
        return resolve_field_spec(spec, self._by_name, arg_default)

    # -- states ---------------------------------------------------------------------------

    def init(self, config: str = "") -> "StateHandle":
        """plugin_init, as sinsp_plugin::init does it. Raises PluginError on failure."""
        t, schema = self._raw_init_schema()  # fetched before every init, as libsinsp does
        if schema is not None and t == SS_PLUGIN_SCHEMA_JSON:
            if not config:
                config = "{}"
            try:
                json.loads(config)
            except ValueError as e:
                raise PluginError(f"init config is not valid JSON: {e}") from None
        cfg = ctypes.create_string_buffer(config.encode("utf-8"))
        inp = ss_plugin_init_input()
        inp.config = ctypes.cast(cfg, ctypes.c_char_p)
        inp.owner = ctypes.addressof(_OWNER)
        inp.get_owner_last_error = _host_owner_last_error
        inp.tables = None
        sentinel = 0x5A5A5A5A
        rc = c_rc(sentinel)
        s = self._fn["init"](ctypes.byref(inp), ctypes.byref(rc))
        if rc.value == sentinel:
            raise ContractError("plugin_init did not write *rc")
        if rc.value == SS_PLUGIN_SUCCESS:
            if not s:
                raise ContractError("plugin_init returned SUCCESS with a NULL state")
            return StateHandle(self, s)
        if not s:
            raise ContractError("plugin_init failed and returned no state to explain why")
        msg = _decode(self._fn["get_last_error"](s))
        self._fn["destroy"](s)
        if not msg:
            raise ContractError("plugin_init failed and get_last_error gives no explanation")
        raise PluginError(msg)

    def __repr__(self) -> str:
        return f"PluginLibrary({self.path!r}: {self.name} {self.version})"


class StateHandle:
    """An initialised plugin state (ss_plugin_t*). Calls on one state must not be concurrent."""

    def __init__(self, lib: PluginLibrary, handle: int):
        self.lib = lib
        self._h = handle
        self._instances: List[InstanceHandle] = []
        self._evtnum = 0  # event numbers given to events delivered by this state's instances
        self._evtsrc = lib.event_source.encode() or b"k8s_audit"
        self._field = ss_plugin_extract_field()
        self._ei = ss_plugin_event_input()
        self._in = ss_plugin_field_extract_input()
        self._spec_cache: Dict[Tuple[str, str], _Spec] = {}
        self._synthetic_evtnum = 1 << 62

    @property
    def handle(self) -> int:
        if not self._h:
            raise PluginError("the plugin state was destroyed")
        return self._h

    def last_error(self) -> str:
        return _decode(self.lib._fn["get_last_error"](self.handle))

    # -- sourcing ---------------------------------------------------------------------------

    def open(self, params: str = "") -> "InstanceHandle":
        """plugin_open. On failure the instance is closed (as libscap does) and PluginError
        carries get_last_error."""
        if not self.lib.has_sourcing:
            raise PluginError("the plugin has no sourcing capability")
        rc = c_rc(SS_PLUGIN_FAILURE)  # libscap presets SCAP_FAILURE
        p = ctypes.create_string_buffer(params.strip().encode("utf-8"))
        h = self.lib._fn["open"](self.handle, p, ctypes.byref(rc))
        if rc.value != SS_PLUGIN_SUCCESS:
            msg = self.last_error()
            self.lib._fn["close"](self.handle, h)
            if not msg:
                raise ContractError("plugin_open failed and get_last_error gives no explanation")
            raise PluginError(msg)
        if not h:
            raise ContractError("plugin_open returned SUCCESS with a NULL instance")
        inst = InstanceHandle(self, h)
        self._instances.append(inst)
        return inst

    # -- extraction -------------------------------------------------------------------------

    def _spec(self, spec: str, arg_default: str) -> _Spec:
        key = (spec, arg_default)
        r = self._spec_cache.get(key)
        if r is None:
            r = self.lib.resolve_spec(spec, arg_default)
            self._spec_cache[key] = r
        return r

    def _extract_event(self, evt_ptr, evtnum: int, specs: Sequence[str],
                       arg_default: str = "max") -> Dict[str, List[str]]:
        fn = self.lib._fn["extract_fields"]
        out: Dict[str, List[str]] = {}
        ei = self._ei
        ei.evt = ctypes.cast(evt_ptr, ctypes.POINTER(ss_plugin_event))
        ei.evtnum = evtnum
        ei.evtsrc = self._evtsrc
        f = self._field
        inp = self._in
        for spec in specs:
            sp = self._spec(spec, arg_default)
            ctypes.memset(ctypes.addressof(f), 0, ctypes.sizeof(f))
            f.field_id = sp.field.field_id
            f.field = sp.name_b
            f.arg_key = sp.arg_key_b
            f.arg_index = sp.index
            f.arg_present = 1 if sp.arg_present else 0
            f.ftype = sp.field.ftype
            f.flist = 1 if sp.field.is_list else 0
            ctypes.memset(ctypes.addressof(inp), 0, ctypes.sizeof(inp))
            inp.owner = ctypes.addressof(_OWNER)
            inp.get_owner_last_error = _host_owner_last_error
            inp.num_fields = 1
            inp.fields = ctypes.pointer(f)
            rc = fn(self.handle, ctypes.byref(ei), ctypes.byref(inp))
            if (f.field_id != sp.field.field_id or f.arg_index != sp.index
                    or f.ftype != sp.field.ftype or f.arg_present != (1 if sp.arg_present else 0)):
                raise ContractError(f"extract_fields({spec}) modified the input members of the field")
            if rc != SS_PLUGIN_SUCCESS or f.res_len == 0:
                continue  # "no value", as libsinsp treats it
            n = f.res_len
            if not sp.field.is_list and n > 1:
                raise ContractError(f"extract_fields({spec}): {n} values for a non-list field")
            out[spec] = self._decode_values(sp, f, n)
        return out

    @staticmethod
    def _decode_values(sp: _Spec, f: ss_plugin_extract_field, n: int) -> List[str]:
        ft = sp.field.ftype
        vals: List[str] = []
        if ft == FTYPE_STRING:
            if not f.res.str:
                raise ContractError(f"extract_fields({sp.spec}): res is NULL")
            arr = ctypes.cast(f.res.str, ctypes.POINTER(ctypes.c_void_p))
            for i in range(n):
                if not arr[i]:
                    raise ContractError(f"extract_fields({sp.spec}): value {i} is a NULL string")
                vals.append(_decode(ctypes.string_at(arr[i])))
        elif ft in (FTYPE_UINT64, FTYPE_RELTIME, FTYPE_ABSTIME):
            vals = [str(f.res.u64[i]) for i in range(n)]
        elif ft == FTYPE_BOOL:
            vals = ["true" if f.res.boolean[i] else "false" for i in range(n)]
        else:
            import ipaddress

            for i in range(n):
                b = f.res.buf[i]
                raw = ctypes.string_at(b.ptr, b.len) if b.ptr else b""
                if len(raw) not in (4, 16):
                    raise ContractError(f"extract_fields({sp.spec}): address of {len(raw)} bytes")
                vals.append(str(ipaddress.ip_address(raw)))
        return vals

    def extract(self, event_payload: bytes, evtnum: int, specs: Sequence[str],
                arg_default: str = "max") -> Dict[str, List[str]]:
        """Extracts ``specs`` from a payload, in capture-file style: the host builds a type-322
        event (plugin ID = this plugin's, ts 0) in its own memory, then makes one
        extract_fields call per spec. Returns ``{spec: [values]}`` for specs with values."""
        if isinstance(event_payload, str):
            event_payload = event_payload.encode("utf-8")
        buf = _build_event(bytes(event_payload), self.lib.id)
        snapshot = buf.raw
        out = self._extract_event(ctypes.addressof(buf), evtnum, specs, arg_default)
        if buf.raw != snapshot:
            raise ContractError("extract_fields modified the host's event memory")
        return out

    def extract_event(self, event: "Event", specs: Sequence[str],
                      arg_default: str = "max") -> Dict[str, List[str]]:
        return self.extract(event.payload, event.evtnum, specs, arg_default)

    def event_to_string(self, payload: bytes, evtnum: Optional[int] = None) -> str:
        if "event_to_string" not in self.lib._fn:
            raise PluginError("the plugin does not export plugin_event_to_string")
        if isinstance(payload, str):
            payload = payload.encode("utf-8")
        if evtnum is None:
            self._synthetic_evtnum += 1
            evtnum = self._synthetic_evtnum
        buf = _build_event(bytes(payload), self.lib.id)
        ei = ss_plugin_event_input()
        ei.evt = ctypes.cast(buf, ctypes.POINTER(ss_plugin_event))
        ei.evtnum = evtnum
        ei.evtsrc = self._evtsrc
        s = self.lib._fn["event_to_string"](self.handle, ctypes.byref(ei))
        if s is None:
            raise ContractError("plugin_event_to_string returned NULL")
        return _decode(s)

    # -- metrics ----------------------------------------------------------------------------

    def metrics(self) -> Dict[str, object]:
        """plugin_get_metrics as ``{name: value}`` (ints, or floats for D/F)."""
        if "get_metrics" not in self.lib._fn:
            return {}
        n = ctypes.c_uint32(0xFFFFFFFF)
        arr = self.lib._fn["get_metrics"](self.handle, ctypes.byref(n))
        if n.value == 0xFFFFFFFF:
            raise ContractError("plugin_get_metrics did not write *num_metrics")
        out: Dict[str, object] = {}
        if n.value and not arr:
            raise ContractError("plugin_get_metrics returned NULL with metrics")
        for i in range(n.value):
            m = arr[i]
            if not m.name:
                raise ContractError(f"plugin_get_metrics: metric {i} has no name")
            vt = m.value_type
            if vt == _METRIC_U32:
                v: object = m.value.u32
            elif vt == _METRIC_S32:
                v = m.value.s32
            elif vt == _METRIC_U64:
                v = m.value.u64
            elif vt == _METRIC_S64:
                v = m.value.s64
            elif vt == _METRIC_D:
                v = m.value.d
            elif vt == _METRIC_F:
                v = m.value.f
            elif vt == _METRIC_I:
                v = m.value.i
            else:
                raise ContractError(f"plugin_get_metrics: unknown value type {vt}")
            out[_decode(m.name)] = v
        return out

    # -- lifecycle --------------------------------------------------------------------------

    def destroy(self) -> None:
        """Closes any open instance, then plugin_destroy. Idempotent."""
        if not self._h:
            return
        for inst in list(self._instances):
            inst.close()
        h, self._h = self._h, None
        self.lib._fn["destroy"](h)

    close = destroy

    def __enter__(self) -> "StateHandle":
        return self

    def __exit__(self, *exc) -> None:
        self.destroy()


class InstanceHandle:
    """An open event stream (ss_instance_t*)."""

    def __init__(self, state: StateHandle, handle: int):
        self.state = state
        self._h = handle
        self.eof = False
        self.timeouts = 0
        self.max_batch_s = 0.0
        self._nevts = ctypes.c_uint32()
        self._evts = ctypes.POINTER(ctypes.c_void_p)()

    def next_batch(self) -> Tuple[int, List[Event]]:
        """One plugin_next_batch call. Returns ``(rc, events)`` with the host's fixes applied
        to each event (in the plugin's memory, as libscap does). FAILURE raises PluginError
        carrying get_last_error; SUCCESS with 0 events and malformed events raise
        ContractError."""
        if not self._h:
            raise PluginError("the instance is closed")
        if self.eof:
            return SS_PLUGIN_EOF, []
        st = self.state
        lib = st.lib
        self._nevts.value = 0xFFFFFFFF
        self._evts = ctypes.POINTER(ctypes.c_void_p)()
        t0 = time.monotonic()
        rc = lib._fn["next_batch"](st.handle, self._h, ctypes.byref(self._nevts),
                                   ctypes.byref(self._evts))
        self.max_batch_s = max(self.max_batch_s, time.monotonic() - t0)
        n = self._nevts.value
        if rc not in (SS_PLUGIN_SUCCESS, SS_PLUGIN_TIMEOUT, SS_PLUGIN_EOF, SS_PLUGIN_FAILURE):
            raise ContractError(f"plugin_next_batch returned {rc}")
        if n == 0xFFFFFFFF:
            raise ContractError(f"plugin_next_batch did not write *nevts (rc {rc})")
        if rc == SS_PLUGIN_SUCCESS and n == 0:
            raise ContractError("plugin_next_batch returned SUCCESS with 0 events")
        if n and not self._evts:
            raise ContractError("plugin_next_batch returned events and a NULL array")
        events = []
        for i in range(n):
            addr = self._evts[i]
            if not addr:
                raise ContractError(f"plugin_next_batch: event {i} of the batch is NULL")
            events.append(self._take_event(addr))
        if rc == SS_PLUGIN_EOF:
            self.eof = True
        elif rc == SS_PLUGIN_TIMEOUT:
            self.timeouts += 1
        elif rc == SS_PLUGIN_FAILURE:
            msg = st.last_error() or "(get_last_error gives no explanation)"
            err = PluginError(msg)
            err.events = events  # delivered before the failure
            raise err
        return rc, events

    def _take_event(self, addr: int) -> Event:
        st = self.state
        lib = st.lib
        hdr = ctypes.string_at(addr, PLUGIN_EVENT_PAYLOAD_OFFSET)
        ts, _tid, ln, typ, nparams, l0, l1, pid = _EVENT_HEADER.unpack(hdr)
        if typ != PLUGIN_EVENT_TYPE or nparams != PLUGIN_EVENT_NPARAMS:
            raise ContractError(
                f"malformed plugin event produced by plugin {lib.name!r}: type {typ} nparams {nparams}"
            )
        if l0 != 4:
            raise ContractError(f"plugin event: length of param 0 is {l0}, not 4")
        if ln != PLUGIN_EVENT_PAYLOAD_OFFSET + l1:
            raise ContractError(f"plugin event: len {ln} != {PLUGIN_EVENT_PAYLOAD_OFFSET} + payload length {l1}")
        if pid == 0:
            struct.pack_into("<I", (ctypes.c_char * 4).from_address(addr + _LAYOUT["EVT_PLUGIN_ID_OFFSET"]), 0, lib.id)
        elif pid != lib.id:
            raise ContractError(f"unexpected plugin ID in plugin event: {pid} (plugin is {lib.id})")
        struct.pack_into("<Q", (ctypes.c_char * 8).from_address(addr + _LAYOUT["EVT_TID_OFFSET"]), 0, UINT64_MAX)
        if ts == UINT64_MAX:
            ts = time.time_ns()
            struct.pack_into("<Q", (ctypes.c_char * 8).from_address(addr + _LAYOUT["EVT_TS_OFFSET"]), 0, ts)
        payload = ctypes.string_at(addr + PLUGIN_EVENT_PAYLOAD_OFFSET, l1)
        st._evtnum += 1
        return Event(st._evtnum, ts, payload)

    def events(self, timeout_s: Optional[float] = None) -> Iterator[Event]:
        """Yields events until EOF, or until ``timeout_s`` seconds have passed (then stops
        with ``self.eof`` still False)."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while not self.eof:
            _rc, evs = self.next_batch()
            yield from evs
            if deadline is not None and time.monotonic() >= deadline:
                return

    def close(self) -> None:
        """plugin_close. Idempotent."""
        if not self._h:
            return
        h, self._h = self._h, None
        st = self.state
        st.lib._fn["close"](st.handle, h)
        if self in st._instances:
            st._instances.remove(self)

    def __enter__(self) -> "InstanceHandle":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __iter__(self) -> Iterator[Event]:
        return self.events()
