# The delivery journal of one LDP stream (included by _ingest.pyx; declared in _ingest.pxd).
#
# next_batch appends one record per event of the batch Falco has just finished, with a single
# write() and no fsync: a killed process keeps its page cache, so what Falco finished is on
# record before anything more is handed out. The state writer (ldp/state.py, the keeper thread)
# folds the records into memory, fsyncs on its interval and compacts them into a snapshot; a
# restart replays from LDP's clock and drops exactly the identities recorded here.




cdef uint32_t jrec_check(uint64_t key, int64_t ns, uint32_t kind) noexcept nogil:
    return <uint32_t>(_mix(key ^ (<uint64_t>ns * 0x9E3779B97F4A7C15ULL) ^ (<uint64_t>kind << 59)
                           ^ 0x6b38736f76684a52ULL) >> 17)


cdef inline void jrec_set(jrec* r, uint64_t key, int64_t ns, uint32_t kind) noexcept nogil:
    r.key, r.ns, r.kind = key, ns, kind
    r.check = jrec_check(key, ns, kind)


cdef int _reserve(void** p, size_t* cap, size_t need, size_t item) noexcept nogil:
    cdef size_t ncap = cap[0] if cap[0] else 1024
    cdef void* np
    if need <= cap[0]:
        return 0
    while ncap < need:
        ncap *= 2
    np = realloc(p[0], ncap * item)
    if np == NULL:
        return -1
    p[0] = np
    cap[0] = ncap
    return 0


cdef void journal_append(journal* j, const jrec* recs, uint32_t n) noexcept nogil:
    cdef size_t size = n * sizeof(jrec), done = 0
    cdef long w
    pthread_mutex_lock(&j.mu)
    if j.fd >= 0:
        while done < size:
            w = write(j.fd, <const char*>recs + done, size - done)
            if w < 0:
                if errno == EINTR:
                    continue
                j.errors += 1
                j.last_errno = errno
                break
            done += <size_t>w
        j.file_bytes += done
    if _reserve(<void**>&j.pend, &j.pend_cap, j.npend + n, sizeof(jrec)) == 0:
        memcpy(j.pend + j.npend, recs, size)
        j.npend += n
    else:
        j.errors += 1
        j.last_errno = ENOMEM
    pthread_mutex_unlock(&j.mu)


cdef int _base_add(journal* j, uint64_t key, int64_t ns) noexcept nogil:
    if _reserve(<void**>&j.base, &j.base_cap, j.nbase + 1, sizeof(dkey)) != 0:
        return -1
    j.base[j.nbase].key = key
    j.base[j.nbase].ns = ns
    j.nbase += 1
    if ns > j.newest:
        j.newest = ns
    return 0


cdef class Journal:
    """The delivery journal of one stream (see the top of this file). Records kept in memory
    between folds are bounded by the state interval; the folded ones by the resume window."""

    def __cinit__(self):
        memset(&self.j, 0, sizeof(journal))
        self.j.fd = -1
        pthread_mutex_init(&self.j.mu, NULL)

    def __dealloc__(self):
        if self.j.fd >= 0:
            close(self.j.fd)
        free(self.j.pend)
        free(self.j.base)
        pthread_mutex_destroy(&self.j.mu)

    def attach(self, int fd):
        """Append to `fd` from now on (-1: memory only). Returns the previous descriptor, which
        the caller closes (every record appended to it is then also in memory)."""
        cdef int old
        with nogil:
            pthread_mutex_lock(&self.j.mu)
            old = self.j.fd
            self.j.fd = fd
            self.j.file_bytes = 0
            pthread_mutex_unlock(&self.j.mu)
        return old

    def hold(self, uint64_t hold_id, int64_t begin_ns):
        """Append a HOLD: a replay of a window from begin_ns has started."""
        cdef jrec r
        jrec_set(&r, hold_id, begin_ns, JR_HOLD)
        with nogil:
            journal_append(&self.j, &r, 1)

    def release(self, uint64_t hold_id):
        """Append a RELEASE: that replay is over."""
        cdef jrec r
        jrec_set(&r, hold_id, 0, JR_RELEASE)
        with nogil:
            journal_append(&self.j, &r, 1)

    def fold(self):
        """Move the DELIVERED records appended since the last fold into the kept set; returns
        how many there were."""
        cdef jrec* recs
        cdef size_t n, i, added = 0
        with nogil:
            pthread_mutex_lock(&self.j.mu)
            recs, n = self.j.pend, self.j.npend
            self.j.pend = NULL
            self.j.npend = self.j.pend_cap = 0
            pthread_mutex_unlock(&self.j.mu)
            for i in range(n):
                if recs[i].kind == JR_DELIVERED:
                    if _base_add(&self.j, recs[i].key, recs[i].ns) != 0:
                        self.j.errors += 1
                        self.j.last_errno = ENOMEM
                        break
                    added += 1
            free(recs)
        return added

    def prune(self, int64_t keep_from):
        """Forget the delivered records older than keep_from (ns): no restart replays them."""
        cdef size_t i, k = 0
        with nogil:
            for i in range(self.j.nbase):
                if self.j.base[i].ns >= keep_from:
                    self.j.base[k] = self.j.base[i]
                    k += 1
            self.j.nbase = k
        return k

    def kept(self):
        """The kept records as the snapshot stores them: (key u64, ns i64) pairs, native order."""
        return (<char*>self.j.base)[:self.j.nbase * sizeof(dkey)] if self.j.nbase else b""

    def load_kept(self, const unsigned char[::1] data):
        """Add the records of a snapshot (what kept() returned)."""
        cdef size_t n = data.shape[0] // sizeof(dkey), i
        cdef const dkey* d = <const dkey*>&data[0] if n else NULL
        if data.shape[0] % sizeof(dkey):
            raise ValueError("snapshot records are not a whole number of records")
        for i in range(n):
            if _base_add(&self.j, d[i].key, d[i].ns) != 0:
                raise MemoryError()

    def load_journal(self, const unsigned char[::1] data):
        """Add the records of a journal file. Returns (records read, marks, torn) where marks
        are the HOLD (id, ns) and RELEASE (id, None) records in order, and torn tells that the
        file ends with bytes that are not a record (a write cut short): they are ignored."""
        cdef size_t n = data.shape[0] // sizeof(jrec), i
        cdef const jrec* r = <const jrec*>&data[0] if n else NULL
        marks = []
        for i in range(n):
            if r[i].check != jrec_check(r[i].key, r[i].ns, r[i].kind):
                return i, marks, True
            if r[i].kind == JR_DELIVERED:
                if _base_add(&self.j, r[i].key, r[i].ns) != 0:
                    raise MemoryError()
            elif r[i].kind == JR_HOLD:
                marks.append((r[i].key, r[i].ns))
            elif r[i].kind == JR_RELEASE:
                marks.append((r[i].key, None))
            else:
                return i, marks, True
        return n, marks, data.shape[0] % sizeof(jrec) != 0

    def close(self):
        """Stop appending to the file (records still go to memory)."""
        cdef int fd = self.attach(-1)
        if fd >= 0:
            close(fd)

    @property
    def newest(self):
        """Newest LDP-clock time (ns) of a delivered record folded or loaded, 0: none."""
        return self.j.newest

    @property
    def kept_count(self):
        return self.j.nbase

    @property
    def file_bytes(self):
        """Bytes appended to the current file since it was attached."""
        return self.j.file_bytes

    @property
    def errors(self):
        """(appends that failed, errno of the last failure)."""
        return self.j.errors, self.j.last_errno
