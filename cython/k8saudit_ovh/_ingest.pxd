# k8saudit_ovh._ingest: payloads (Event / EventList / array) -> compact events with their
# stageTimestamp and identity, the bounded queue between producer threads and next_batch, counters, and
# the delivery journal (what Falco has finished, for the resume after a restart).
from libc.stdint cimport uint32_t, uint64_t, int64_t
from k8saudit_ovh._abi cimport ss_plugin_event, ss_plugin_rc
from k8saudit_ovh._jsonidx cimport jdoc
from k8saudit_ovh._sbuf cimport sbuf
from k8saudit_ovh._sync cimport pthread_mutex_t, pthread_cond_t

# Counters, one table: index, metric name and kind are declared together in _ingest_counters.pxi.
cdef enum counter_id:
    C_EVENTS_INGESTED = 0
    C_BYTES_INGESTED
    C_EVENTS_DELIVERED
    C_DROPPED_INVALID_JSON
    C_DROPPED_NOT_AUDIT_EVENT
    C_DROPPED_BAD_TIMESTAMP
    C_DROPPED_OVERSIZE
    C_DROPPED_OUT_OF_MEMORY  # an allocation for the event failed
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

# Delivery journal of one LDP stream: one 24-byte record per event Falco has finished (it asked
# for the next batch), appended by next_batch before it hands out more; and the replay holds
# (a window that must be replayed again if the process dies before the replay ends). The
# records also stay in memory (`pend`) until the state writer folds them into its snapshot.
cdef enum jrec_kind:
    JR_DELIVERED = 1         # key = identity, ns = the event's position in LDP's clock
    JR_HOLD = 2              # key = hold id, ns = window begin
    JR_RELEASE = 3           # key = hold id

cdef struct jrec:            # the on-disk record (native little-endian)
    uint64_t key
    int64_t ns
    uint32_t kind
    uint32_t check           # jrec_check(): a torn or foreign tail is recognised

cdef struct dkey:            # a delivered identity kept for the next restart
    uint64_t key
    int64_t ns

cdef struct journal:
    pthread_mutex_t mu
    int fd                   # the journal file records are appended to, -1: memory only
    jrec* pend               # records appended since the last fold
    size_t npend
    size_t pend_cap
    dkey* base               # folded DELIVERED records not older than the last prune
    size_t nbase
    size_t base_cap
    int64_t newest           # newest ns of a DELIVERED record, 0: none
    uint64_t file_bytes      # bytes appended to the current file
    uint64_t errors          # appends that failed (file or memory)
    int last_errno

cdef uint32_t jrec_check(uint64_t key, int64_t ns, uint32_t kind) noexcept nogil

# What the queue knows of each event besides its bytes: who it is and where LDP put it.
cdef struct evmeta:
    uint64_t key             # identity (auditID + stage, dedupe_key), 0: none
    int64_t ldp_ns           # the frame's GELF timestamp (ns), else its receive time; 0: file
    journal* j               # the stream's delivery journal, NULL: none

cdef struct evqueue:
    pthread_mutex_t mu
    pthread_cond_t not_empty
    pthread_cond_t not_full
    ss_plugin_event** ring
    evmeta* meta             # parallel to ring
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
    evmeta* batch_meta
    uint32_t batch_n
    counters* ctr

# An RFC 3339 timestamp (k8saudit's stageTimestamp rules) as ns since the epoch.
cdef bint parse_rfc3339_ns(const char* s, size_t n, uint64_t* out) noexcept nogil
# Decimal seconds since the epoch (GELF `timestamp`) as ns.
cdef bint parse_epoch_seconds(const char* s, size_t n, int64_t* out) noexcept nogil

cdef ss_plugin_rc queue_next_batch(evqueue* q, uint32_t* nevts, ss_plugin_event*** evts) noexcept nogil

cdef class Counters:
    cdef counters c

cdef class EventQueue:
    cdef evqueue q
    cdef readonly Counters counters

# Recently seen events (auditID + stage), bounded: two generations of an open-addressing set of
# 64-bit hashes; when the current one is full the older one is forgotten. Shared by the Feeders
# of one LDP stream (live and replay connections), hence the mutex. `pre`: the identities the
# previous process delivered (from its journal), never forgotten.
cdef struct dedupe_set:
    pthread_mutex_t mu
    uint64_t* tab[2]
    uint32_t used[2]
    uint32_t cur
    uint64_t mask
    uint32_t limit
    uint64_t* pre
    uint64_t pre_mask

cdef class Dedupe:
    cdef dedupe_set s

cdef class Journal:
    cdef journal j

# The key of (auditID, stage) in a dedupe set, and "seen before? (records it)".
cdef uint64_t dedupe_key(const char* audit_id, size_t an, const char* stage, size_t sn) noexcept nogil
cdef bint dedupe_check_insert(dedupe_set* dd, uint64_t key) noexcept nogil

# Why an LDP frame was not an audit payload (all counted as dropped_bad_frame).
cdef enum frame_drop:
    FD_NOT_JSON = 0          # the frame is not a JSON object
    FD_NO_MESSAGE            # no string `message`
    FD_GELF_NOT_JSON         # `message` is not a JSON object (GELF)
    FD_NO_PAYLOAD            # GELF without a non-empty short_message / full_message
    FD_COUNT

# A Feeder's own counts (the stream's statistics; the plugin-wide ones are the counters).
cdef struct feedstats:
    uint64_t frames
    uint64_t events          # queued
    uint64_t duplicates
    uint64_t outside         # frames skipped: their timestamp belongs to another chunk
    uint64_t late            # frames older than the newest one seen by more than the margin
    int64_t newest_frame_ns  # newest frame timestamp seen (LDP clock), 0: none

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
    cdef Journal journal         # None: deliveries are not journaled
    cdef uint64_t last_ts        # newest stageTimestamp of the events queued (lag_ms)
    cdef int64_t win_lo          # frames with a timestamp outside [win_lo, win_hi) are skipped
    cdef int64_t win_hi          # (0: no bound)
    cdef int64_t late_margin     # frames older than newest - this are counted late (0: off)
    cdef feedstats st
    cdef uint64_t fdrops[<int>FD_COUNT]
