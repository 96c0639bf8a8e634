# Event sourcing: payload ingestion (Event / EventList / array -> compact events with their
# stageTimestamp), the bounded queue between producer threads and next_batch, and counters.
from libc.stdint cimport uint32_t, uint64_t
from k8saudit_ovh._abi cimport ss_plugin_event, ss_plugin_rc
from k8saudit_ovh._jsonidx cimport jdoc
from k8saudit_ovh._sbuf cimport sbuf
from k8saudit_ovh._sync cimport pthread_mutex_t, pthread_cond_t

# Counters, one table: index, metric name and kind are declared together in _source.pyx.
cdef enum counter_id:
    C_EVENTS_INGESTED = 0
    C_BYTES_INGESTED
    C_EVENTS_DELIVERED
    C_DROPPED_INVALID_JSON
    C_DROPPED_NOT_AUDIT_EVENT
    C_DROPPED_BAD_TIMESTAMP
    C_DROPPED_OVERSIZE
    C_DROPPED_BAD_FRAME
    C_DUPLICATES_DROPPED
    C_FRAMES_RECEIVED
    C_RECONNECTS
    C_CONNECTED
    C_LAG_MS
    C_QUEUE_DEPTH
    C_REPLAYED_EVENTS        # events a replay (after a reconnect or a restart) queued
    C_REPLAYS_FAILED         # replays given up: their window may be missing
    C_COUNT

cdef struct counters:
    uint64_t v[<int>C_COUNT]

cdef const char* counter_name(int i) noexcept nogil
cdef bint counter_monotonic(int i) noexcept nogil

cdef struct evqueue:
    pthread_mutex_t mu
    pthread_cond_t not_empty
    pthread_cond_t not_full
    ss_plugin_event** ring
    size_t ring_cap
    size_t head
    size_t count
    size_t bytes
    size_t max_bytes
    bint finished          # producers are done: EOF once drained
    bint stopping          # the instance is closing: producers must give up
    bint failed
    char errmsg[512]
    ss_plugin_event** batch
    uint32_t batch_n
    counters* ctr

cdef ss_plugin_rc queue_next_batch(evqueue* q, uint32_t* nevts, ss_plugin_event*** evts) noexcept nogil

cdef class Counters:
    cdef counters c

cdef class EventQueue:
    cdef evqueue q
    cdef readonly Counters counters

# Recently seen events (auditID + stage), bounded: two generations of an open-addressing set of
# 64-bit hashes; when the current one is full the older one is forgotten. Shared by the Feeders
# of one LDP stream (live and replay connections), hence the mutex.
cdef struct dedupe_set:
    pthread_mutex_t mu
    uint64_t* tab[2]
    uint32_t used[2]
    uint32_t cur
    uint64_t mask
    uint32_t limit

cdef class Dedupe:
    cdef dedupe_set s

# Why an LDP frame was not an audit payload (all counted as dropped_bad_frame).
cdef enum frame_drop:
    FD_NOT_JSON = 0          # the frame is not a JSON object
    FD_NO_MESSAGE            # no string `message`
    FD_GELF_NOT_JSON         # `message` is not a JSON object (GELF)
    FD_NO_PAYLOAD            # GELF without a non-empty short_message / full_message
    FD_COUNT

cdef class Feeder:
    cdef jdoc doc
    cdef EventQueue queue
    cdef uint64_t max_event_size
    # LDP frames: unescaped GELF text, the payload (short_message, full_message), event scratch
    cdef sbuf gelf
    cdef sbuf payload
    cdef sbuf payload2
    cdef sbuf scratch
    cdef sbuf cluster            # JSON string literal of the cluster name ("" = none)
    cdef Dedupe dedupe           # None: no dedupe
    cdef uint64_t last_ts        # newest stageTimestamp of the events queued (lag_ms)
    cdef uint64_t min_ts         # events not newer than this are dropped as duplicates (0: none)
    cdef uint64_t fdrops[<int>FD_COUNT]
