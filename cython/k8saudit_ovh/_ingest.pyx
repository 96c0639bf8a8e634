# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""k8saudit_ovh._ingest: audit payloads in, plugin events out to next_batch, without the GIL.

Producers (the file reader, the LDP streams) hand bytes to a Feeder; its C code finds the audit
events (Event, EventList, arrays; LDP frames around them), checks them, and queues compact
events with their identity and LDP time in a bounded queue that blocks producers when full.
next_batch drains it, and journals the batch Falco has just finished for the resume state.

One compiled module, one included file per concern (declarations: _ingest.pxd):
    _ingest_counters.pxi   the metrics' counters (names, kinds)
    _ingest_queue.pxi      the bounded queue, next_batch
    _ingest_times.pxi      stageTimestamp (RFC 3339) and GELF timestamp parsing
    _ingest_feed.pxi       the Feeder: payload -> events (checks, identity, cluster name)
    _ingest_ldp.pxi        LDP frames -> payload, frame time, chunk window, late frames
    _ingest_dedupe.pxi     identity hashing and the bounded Dedupe
    _ingest_journal.pxi    the delivery journal of a stream (resume state)
"""
from libc.stdint cimport uint8_t, uint32_t, uint64_t, int64_t
from libc.stdlib cimport malloc, calloc, realloc, free, strtod
from libc.string cimport memcpy, memset
from libc.errno cimport errno, EINTR, ENOMEM
from posix.unistd cimport write, close
from k8saudit_ovh._abi cimport (ss_plugin_event, ss_plugin_rc, SS_PLUGIN_SUCCESS, SS_PLUGIN_FAILURE,
                                SS_PLUGIN_TIMEOUT, SS_PLUGIN_EOF)
from k8saudit_ovh._jsonidx cimport (jdoc, jdoc_init, jdoc_free, jdoc_parse, jget, jstr, jfirst, jnext,
                                    jappend_str, J_OBJ, J_ARR, J_STR, J_NUM, JERR_OK, jstr_eq,
                                    JU_STRICT)
from k8saudit_ovh._event cimport (K8S_EVT_PLUGIN_ID_OFFSET, K8S_PLUGIN_EVENT_PAYLOAD_OFFSET,
                                  k8s_event_write_header, k8s_event_set_u32)
from k8saudit_ovh._sbuf cimport sbuf, sbuf_reserve, sbuf_append, sbuf_free
from k8saudit_ovh._simdjson cimport k8s_minify, K8S_JSON_PADDING
from k8saudit_ovh._sync cimport (pthread_mutex_init, pthread_mutex_destroy, pthread_mutex_lock,
                                 pthread_mutex_unlock, pthread_cond_destroy, pthread_cond_signal,
                                 pthread_cond_broadcast, k8s_add, k8s_set, k8s_get, k8s_cond_init,
                                 k8s_cond_wait_ms, k8s_now_ns)

import json

cdef const char* _EMPTY = ""

cdef enum:
    BATCH_MAX = 256
    WAIT_MS = 50             # next_batch blocks at most this long (Falco re-polls at once)
    PRODUCER_WAIT_MS = 100   # producers re-check `stopping` this often while backpressured
    LINGER_MS = 1            # next_batch: after a wake-up with few events, wait this much more
    LINGER_MIN = 32          # ... unless this many events are already there
    MAX_NESTING = 64         # arrays of arrays of events

include "_ingest_counters.pxi"
include "_ingest_queue.pxi"
include "_ingest_journal.pxi"
include "_ingest_times.pxi"
include "_ingest_feed.pxi"
include "_ingest_ldp.pxi"
include "_ingest_dedupe.pxi"
