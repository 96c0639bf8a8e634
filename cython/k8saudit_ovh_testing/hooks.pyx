# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Python views of the plugin's C internals, for tests, benchmarks and fuzzers only.

The shipped modules (k8saudit_ovh._*) keep only what Falco or the plugin's own Python code
calls; everything a test needs to reach inside lives here, in a package the artifact leaves out.
"""
from libc.stdint cimport uint32_t, uint64_t, int64_t
from libc.stdlib cimport malloc, free
from libc.string cimport memcpy, memset, strchr, strlen
from posix.time cimport clock_gettime, timespec, CLOCK_MONOTONIC
from k8saudit_ovh._abi cimport (ss_plugin_rc, SS_PLUGIN_SUCCESS, ss_plugin_event, ss_plugin_event_input,
                                ss_plugin_field_extract_input, ss_plugin_extract_field)
from k8saudit_ovh._event cimport K8S_PLUGIN_EVENT_PAYLOAD_OFFSET, k8s_event_write_header
from k8saudit_ovh._extract cimport extractor, extractor_init, extractor_free, extract_fields
from k8saudit_ovh._fields cimport K8S_FIELDS, K8S_NUM_FIELDS
from k8saudit_ovh._jsonidx cimport (jdoc, jdoc_init, jdoc_free, jdoc_parse, jget, jappend_str,
                                    jappend_raw, J_STR, JU_STRICT)
from k8saudit_ovh._sbuf cimport sbuf, sbuf_free
from k8saudit_ovh._ingest cimport (Dedupe, dedupe_key, dedupe_check_insert, parse_rfc3339_ns,
                                  parse_epoch_seconds, counter_name, counter_monotonic, C_COUNT)

from k8saudit_ovh_cli.host import FTYPE_STRING, FieldInfo, resolve_field_spec


# ---- JSON index

cdef uint32_t _dot_path(jdoc* d, uint32_t node, const char* path) noexcept nogil:
    """Follow a dot-separated chain of object keys from `node`; 0 when any step is missing."""
    cdef const char* s = path
    cdef const char* dot
    while node and s[0]:
        dot = strchr(s, b'.')
        if dot == NULL:
            return jget(d, node, s, strlen(s), JU_STRICT)
        node = jget(d, node, s, dot - s, JU_STRICT)
        s = dot + 1
    return node


cdef int _append_text(jdoc* d, uint32_t node, sbuf* out) noexcept nogil:
    """k8saudit's value-as-string: a string's text, anything else its compact JSON."""
    if d.nodes[node].kind == J_STR:
        return jappend_str(d, node, out, JU_STRICT)
    return jappend_raw(d, node, out)


cdef class Index:
    """A parsed JSON document: `Index(b'...').text('a.b')`."""
    cdef jdoc d
    cdef public int error

    def __cinit__(self, bytes data):
        if jdoc_init(&self.d) != 0:
            raise MemoryError()
        self.error = jdoc_parse(&self.d, data, len(data))

    def __dealloc__(self):
        jdoc_free(&self.d)

    @property
    def ok(self):
        return self.error == 0

    @property
    def compact(self):
        return bool(self.d.compact)

    def text(self, str path):
        """value-as-string at a dot path from the root, or None when absent/invalid."""
        cdef sbuf out
        cdef uint32_t node
        if self.error:
            return None
        node = _dot_path(&self.d, 1, path.encode()) if path else 1
        if node == 0:
            return None
        memset(&out, 0, sizeof(sbuf))
        try:
            if _append_text(&self.d, node, &out) != 0:
                return None
            return out.p[:out.len].decode('utf-8', 'surrogateescape')
        finally:
            sbuf_free(&out)


# ---- event sourcing

def rfc3339_ns(str text):
    """The stageTimestamp parser: ns, or None when not RFC 3339."""
    return _parsed_time(text, False)


def epoch_ns(str text):
    """The GELF timestamp parser (decimal seconds since the epoch): ns, or None."""
    return _parsed_time(text, True)


cdef object _parsed_time(str text, bint epoch):
    cdef bytes b = text.encode()
    cdef uint64_t ns = 0
    cdef int64_t secs_ns = 0
    if epoch:
        return secs_ns if parse_epoch_seconds(b, len(b), &secs_ns) else None
    return ns if parse_rfc3339_ns(b, len(b), &ns) else None


def counter_kinds():
    """{metric name: "counter" | "gauge"}, as plugin_get_metrics reports them."""
    return {counter_name(i).decode(): "counter" if counter_monotonic(i) else "gauge"
            for i in range(<int>C_COUNT)}


def dedupe_seen(Dedupe d not None, str audit_id, str stage=""):
    """True when (audit_id, stage) was already recorded in d; records it."""
    cdef bytes a = audit_id.encode(), b = stage.encode()
    return dedupe_check_insert(&d.s, dedupe_key(a, len(a), b, len(b)))


# ---- field extraction, the way Falco asks for it

FIELD_NAMES = tuple(K8S_FIELDS[_i].name.decode() for _i in range(K8S_NUM_FIELDS))
UINT64_MAX = 0xFFFFFFFFFFFFFFFF
# The fields as a plugin host sees them (get_fields), for the host's spec resolution.
_FIELDS_BY_NAME = {
    K8S_FIELDS[_i].name.decode(): FieldInfo(
        field_id=_i, name=K8S_FIELDS[_i].name.decode(), type="string", ftype=FTYPE_STRING,
        is_list=bool(K8S_FIELDS[_i].is_list), is_index=bool(K8S_FIELDS[_i].is_index),
        is_key=bool(K8S_FIELDS[_i].is_key), is_required=bool(K8S_FIELDS[_i].is_required),
        desc=K8S_FIELDS[_i].desc.decode())
    for _i in range(K8S_NUM_FIELDS)}


def parse_spec(str spec, arg_default_max=True):
    """Resolve a field spec `name` or `name[arg]` like libsinsp (the ctypes host's resolver, over
    this plugin's field table). Returns (field_id, arg_present, arg_index, arg_key) where
    arg_key is bytes or None; arg_index is UINT64_MAX (Falco >= 0.44) or 0 (older Falco) when
    no numeric argument is given."""
    sp = resolve_field_spec(spec, _FIELDS_BY_NAME, "max" if arg_default_max else "zero")
    return sp.field.field_id, sp.arg_present, sp.index, sp.arg_key_b


cdef void _write_event(char* ev, const char* payload, uint32_t n) noexcept nogil:
    """A plugin event around payload (include/k8saudit_event.h), as libscap lays it out."""
    k8s_event_write_header(ev, <uint64_t>-1, n)
    memcpy(ev + K8S_PLUGIN_EVENT_PAYLOAD_OFFSET, payload, n)


cdef class _Events:
    """Payloads laid out as plugin events in one buffer (for the timing loops)."""
    cdef char* buf
    cdef size_t* offs
    cdef uint32_t* lens
    cdef Py_ssize_t n

    def __cinit__(self, list payloads):
        cdef size_t total = 0, pos = 0
        cdef Py_ssize_t i
        cdef bytes p
        self.n = len(payloads)
        for p in payloads:
            total += K8S_PLUGIN_EVENT_PAYLOAD_OFFSET + len(p)
        self.buf = <char*>malloc(total + 1)
        self.offs = <size_t*>malloc((self.n + 1) * sizeof(size_t))
        self.lens = <uint32_t*>malloc((self.n + 1) * sizeof(uint32_t))
        if self.buf == NULL or self.offs == NULL or self.lens == NULL:
            raise MemoryError()
        for i in range(self.n):
            p = payloads[i]
            self.offs[i] = pos
            self.lens[i] = <uint32_t>len(p)
            _write_event(self.buf + pos, p, <uint32_t>len(p))
            pos += K8S_PLUGIN_EVENT_PAYLOAD_OFFSET + len(p)

    def __dealloc__(self):
        free(self.buf)
        free(self.offs)
        free(self.lens)


cdef _fill_fields(ss_plugin_extract_field* fields, list specs, arg_default_max, list keep):
    """One request entry per spec, as libsinsp fills them; `keep` holds the bytes they point at
    (it must outlive the requests)."""
    cdef Py_ssize_t k
    cdef bytes name, key
    memset(fields, 0, (len(specs) + 1) * sizeof(ss_plugin_extract_field))
    for k in range(len(specs)):
        fid, present, index, key = parse_spec(specs[k], arg_default_max)
        name = FIELD_NAMES[fid].encode()
        keep.append((name, key))
        fields[k].field_id = fid
        fields[k].field = name
        fields[k].arg_key = <const char*>key if key is not None else NULL
        fields[k].arg_index = index
        fields[k].arg_present = present
        fields[k].ftype = FTYPE_STRING
        fields[k].flist = K8S_FIELDS[<int>fid].is_list


cdef _collect_values(dict out, spec, const ss_plugin_extract_field* f):
    """Read one field's result the way the host does (strlen on each value)."""
    cdef uint64_t j
    cdef const char* s
    if f.res_len == 0xDEAD:
        raise AssertionError("res_len not set for %r" % spec)
    if f.res_len:
        vals = []
        for j in range(f.res_len):
            s = f.res.str[j]
            vals.append(s[:strlen(s)].decode("utf-8", "surrogateescape"))
        out[spec] = vals


cdef inline uint64_t _now_ns() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return <uint64_t>ts.tv_sec * 1000000000 + <uint64_t>ts.tv_nsec


cdef class Extractor:
    """One extractor (what one plugin state owns).

    extract(payload, evtnum, specs) -> {spec: [values]}: only specs with values. Like Falco,
    the payload is parsed once per event number: pass a new evtnum for a new payload.
    `last_failed` lists the specs whose last call returned SS_PLUGIN_FAILURE (no value).
    Like a plugin state, one Extractor serves one thread at a time (the timing loops run
    without the GIL)."""
    cdef extractor x
    cdef public list last_failed
    cdef public object last_bench_values

    def __cinit__(self):
        if extractor_init(&self.x) != 0:
            raise MemoryError()
        self.last_failed = []

    def __dealloc__(self):
        extractor_free(&self.x)

    def extract(self, bytes payload, unsigned long long evtnum, list specs, arg_default_max=True,
                batch=False):
        """{spec: [values]} for the specs that have values. Like Falco: one extract_fields call
        per field, a new event number per payload (the parse is cached per event number);
        arg_default_max: arg_index when no numeric argument is given, UINT64_MAX (Falco 0.44)
        or 0 (older Falco). batch=True asks for all specs in one call (num_fields > 1)."""
        cdef Py_ssize_t n = len(specs), k
        cdef ss_plugin_extract_field* fields
        cdef ss_plugin_field_extract_input req
        cdef ss_plugin_event_input ein
        cdef ss_plugin_rc rc
        cdef char* ev
        keep = []
        ev = <char*>malloc(K8S_PLUGIN_EVENT_PAYLOAD_OFFSET + len(payload))
        fields = <ss_plugin_extract_field*>malloc((n + 1) * sizeof(ss_plugin_extract_field))
        if ev == NULL or fields == NULL:
            free(ev)
            free(fields)
            raise MemoryError()
        _write_event(ev, payload, <uint32_t>len(payload))
        out = {}
        self.last_failed = []
        try:
            _fill_fields(fields, specs, arg_default_max, keep)
            for k in range(n):
                fields[k].res_len = 0xDEAD        # must be overwritten
            memset(&req, 0, sizeof(req))
            ein.evt = <const ss_plugin_event*>ev
            ein.evtnum = evtnum
            ein.evtsrc = b"k8s_audit"
            if batch:
                req.num_fields = <uint32_t>n
                req.fields = fields
                rc = extract_fields(&self.x, &ein, &req)
                if rc != SS_PLUGIN_SUCCESS:
                    self.last_failed.append("*")
                for k in range(n):
                    _collect_values(out, specs[k], &fields[k])
            else:
                req.num_fields = 1
                for k in range(n):
                    req.fields = &fields[k]
                    rc = extract_fields(&self.x, &ein, &req)   # under the GIL: serialised
                    if rc != SS_PLUGIN_SUCCESS:
                        self.last_failed.append(specs[k])
                        if fields[k].res_len:
                            raise AssertionError("values returned with a failure for %r" % specs[k])
                    _collect_values(out, specs[k], &fields[k])
        finally:
            free(ev)
            free(fields)
        return out

    def last_error(self):
        return self.x.last_error.decode() if self.x.last_error != NULL else None

    def parse_only(self, list payloads, unsigned long iterations=1):
        """Time just the JSON indexing of every payload, `iterations` times; elapsed ns."""
        cdef _Events evs = _Events(payloads)
        cdef uint64_t t0, t1
        cdef unsigned long it
        cdef Py_ssize_t i
        cdef int bad = 0
        with nogil:
            t0 = _now_ns()
            for it in range(iterations):
                for i in range(evs.n):
                    bad |= jdoc_parse(&self.x.doc, evs.buf + evs.offs[i] + K8S_PLUGIN_EVENT_PAYLOAD_OFFSET, evs.lens[i])
            t1 = _now_ns()
        self.x.cached = False
        return t1 - t0

    def bench(self, list payloads, list specs, unsigned long iterations=1):
        """Time the extraction of every spec from every payload (a new event number per event
        and iteration, so each event is parsed once, at its first field), one field per
        extract_fields call like Falco; elapsed ns. `last_bench_values` = values produced."""
        cdef _Events evs = _Events(payloads)
        cdef Py_ssize_t nspec = len(specs), i, k
        cdef ss_plugin_extract_field* fields = <ss_plugin_extract_field*>malloc(
            (nspec + 1) * sizeof(ss_plugin_extract_field))
        cdef ss_plugin_field_extract_input req
        cdef ss_plugin_event_input ein
        cdef uint64_t t0, t1, evtnum = 0, nvalues = 0
        cdef unsigned long it
        if fields == NULL:
            raise MemoryError()
        keep = []
        try:
            _fill_fields(fields, specs, True, keep)
            memset(&req, 0, sizeof(req))
            req.num_fields = 1
            ein.evtsrc = b"k8s_audit"
            self.x.cached = False
            with nogil:
                t0 = _now_ns()
                for it in range(iterations):
                    for i in range(evs.n):
                        ein.evt = <const ss_plugin_event*>(evs.buf + evs.offs[i])
                        evtnum += 1
                        ein.evtnum = evtnum
                        for k in range(nspec):
                            req.fields = &fields[k]
                            extract_fields(&self.x, &ein, &req)
                            nvalues += fields[k].res_len
                t1 = _now_ns()
            self.last_bench_values = nvalues
        finally:
            free(fields)
        return t1 - t0
