# The counters behind plugin_get_metrics: name and kind of each, by counter_id.
# (included by _ingest.pyx; declared in _ingest.pxd)

cdef const char* _NAMES[<int>C_COUNT]
cdef bint _MONO[<int>C_COUNT]
_NAMES[<int>C_EVENTS_INGESTED] = b"events_ingested";               _MONO[<int>C_EVENTS_INGESTED] = True
_NAMES[<int>C_BYTES_INGESTED] = b"bytes_ingested";                 _MONO[<int>C_BYTES_INGESTED] = True
_NAMES[<int>C_EVENTS_DELIVERED] = b"events_delivered";             _MONO[<int>C_EVENTS_DELIVERED] = True
_NAMES[<int>C_DROPPED_INVALID_JSON] = b"dropped_invalid_json";     _MONO[<int>C_DROPPED_INVALID_JSON] = True
_NAMES[<int>C_DROPPED_NOT_AUDIT_EVENT] = b"dropped_not_audit_event"; _MONO[<int>C_DROPPED_NOT_AUDIT_EVENT] = True
_NAMES[<int>C_DROPPED_BAD_TIMESTAMP] = b"dropped_bad_timestamp";   _MONO[<int>C_DROPPED_BAD_TIMESTAMP] = True
_NAMES[<int>C_DROPPED_OVERSIZE] = b"dropped_oversize";             _MONO[<int>C_DROPPED_OVERSIZE] = True
_NAMES[<int>C_DROPPED_OUT_OF_MEMORY] = b"dropped_out_of_memory";   _MONO[<int>C_DROPPED_OUT_OF_MEMORY] = True
_NAMES[<int>C_DROPPED_BAD_FRAME] = b"dropped_bad_frame";           _MONO[<int>C_DROPPED_BAD_FRAME] = True
_NAMES[<int>C_DUPLICATES_DROPPED] = b"duplicates_dropped";         _MONO[<int>C_DUPLICATES_DROPPED] = True
_NAMES[<int>C_FRAMES_RECEIVED] = b"frames_received";               _MONO[<int>C_FRAMES_RECEIVED] = True
_NAMES[<int>C_RECONNECTS] = b"reconnects";                         _MONO[<int>C_RECONNECTS] = True
_NAMES[<int>C_CONNECTED] = b"connected";                           _MONO[<int>C_CONNECTED] = False
_NAMES[<int>C_LAG_MS] = b"lag_ms";                                 _MONO[<int>C_LAG_MS] = False
_NAMES[<int>C_QUEUE_DEPTH] = b"queue_depth";                       _MONO[<int>C_QUEUE_DEPTH] = False
_NAMES[<int>C_REPLAYED_EVENTS] = b"replayed_events";               _MONO[<int>C_REPLAYED_EVENTS] = True
_NAMES[<int>C_REPLAYS_FAILED] = b"replays_failed";                 _MONO[<int>C_REPLAYS_FAILED] = True

cdef const char* counter_name(int i) noexcept nogil:
    return _NAMES[i]

cdef bint counter_monotonic(int i) noexcept nogil:
    return _MONO[i]


cdef class Counters:
    """The plugin state's counters (shared by its instances' queues and producers)."""

    def __cinit__(self):
        memset(&self.c, 0, sizeof(counters))

    def add(self, str name, uint64_t n=1):
        k8s_add(&self.c.v[_counter_index(name)], n)

    def set(self, str name, uint64_t value):
        k8s_set(&self.c.v[_counter_index(name)], value)

    def snapshot(self):
        return {_NAMES[i].decode(): k8s_get(&self.c.v[i]) for i in range(<int>C_COUNT)}


cdef int _counter_index(str name) except -1:
    cdef bytes b = name.encode()
    for i in range(<int>C_COUNT):
        if _NAMES[i] == b:
            return i
    raise KeyError(name)
