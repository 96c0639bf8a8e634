# Identity of an event (auditID + stage) and the bounded set of recently seen ones.
# (included by _ingest.pyx; declared in _ingest.pxd)


cdef inline uint64_t _mix(uint64_t h) noexcept nogil:
    h ^= h >> 33
    h *= 0xff51afd7ed558ccdULL
    h ^= h >> 33
    h *= 0xc4ceb9fe1a85ec53ULL
    h ^= h >> 33
    return h


cdef inline uint64_t _fnv(uint64_t h, const char* s, size_t n) noexcept nogil:
    cdef size_t i
    for i in range(n):
        h ^= <uint8_t>s[i]
        h *= 0x100000001b3ULL
    return h


cdef uint64_t _identity(jdoc* d, uint32_t node) noexcept nogil:
    """The event's identity: dedupe_key of (auditID, stage); 0 for an event without an auditID
    (never taken for a duplicate; its journal record only moves the position)."""
    cdef uint32_t idn = jget(d, node, b"auditID", 7, JU_STRICT)
    cdef uint32_t stn
    cdef size_t m = 0, sm = 0
    cdef const char* t
    cdef const char* st = NULL
    if idn == 0 or d.nodes[idn].kind != J_STR:
        return 0
    t = jstr(d, idn, &m, JU_STRICT)
    if t == NULL or m == 0:
        return 0
    stn = jget(d, node, b"stage", 5, JU_STRICT)
    if stn and d.nodes[stn].kind == J_STR:
        st = jstr(d, stn, &sm, JU_STRICT)
    if st == NULL:
        sm = 0
    return dedupe_key(t, m, st, sm)


cdef uint64_t dedupe_hash_start(const char* audit_id, size_t n) noexcept nogil:
    """The dedupe hash state after the auditID and its separator (the stage comes next)."""
    return _fnv(_fnv(0xcbf29ce484222325ULL, audit_id, n), b"\0", 1)


cdef uint64_t dedupe_key(const char* audit_id, size_t an, const char* stage, size_t sn) noexcept nogil:
    cdef uint64_t h = _mix(_fnv(dedupe_hash_start(audit_id, an), stage, sn))
    return h if h != 0 else 1


cdef inline bint _probe(uint64_t* tab, uint64_t mask, uint64_t key, bint insert) noexcept nogil:
    cdef uint64_t i = key & mask
    while tab[i] != 0:
        if tab[i] == key:
            return True
        i = (i + 1) & mask
    if insert:
        tab[i] = key
    return False


cdef bint dedupe_check_insert(dedupe_set* dd, uint64_t key) noexcept nogil:
    cdef bint seen
    if key == 0:
        key = 1
    pthread_mutex_lock(&dd.mu)
    seen = (_probe(dd.tab[dd.cur], dd.mask, key, False) or _probe(dd.tab[1 - dd.cur], dd.mask, key, False)
            or (dd.pre != NULL and _probe(dd.pre, dd.pre_mask, key, False)))
    if not seen:
        _probe(dd.tab[dd.cur], dd.mask, key, True)
        dd.used[dd.cur] += 1
        if dd.used[dd.cur] >= dd.limit:
            dd.cur = 1 - dd.cur
            memset(dd.tab[dd.cur], 0, (dd.mask + 1) * sizeof(uint64_t))
            dd.used[dd.cur] = 0
    pthread_mutex_unlock(&dd.mu)
    return seen


cdef class Dedupe:
    """Remembers the (auditID, stage) of at least `capacity` recent events (at most twice that),
    in 2 x 16 x capacity bytes (rounded up to a power of two). Thread-safe: the Feeders of one
    LDP stream (live and replay connections) share one."""

    def __cinit__(self, uint32_t capacity=65536):
        cdef uint64_t size = 16
        memset(&self.s, 0, sizeof(dedupe_set))
        if capacity < 1 or capacity > (1u << 28):
            raise ValueError("dedupe capacity must be between 1 and 2^28")
        while size < 2 * <uint64_t>capacity:
            size *= 2
        self.s.tab[0] = <uint64_t*>calloc(size, sizeof(uint64_t))
        self.s.tab[1] = <uint64_t*>calloc(size, sizeof(uint64_t))
        if self.s.tab[0] == NULL or self.s.tab[1] == NULL:
            free(self.s.tab[0])
            free(self.s.tab[1])
            self.s.tab[0] = self.s.tab[1] = NULL
            raise MemoryError()
        self.s.mask = size - 1
        self.s.limit = capacity
        pthread_mutex_init(&self.s.mu, NULL)

    def __dealloc__(self):
        if self.s.tab[0] != NULL:
            free(self.s.tab[0])
            free(self.s.tab[1])
            free(self.s.pre)
            pthread_mutex_destroy(&self.s.mu)

    @property
    def capacity(self):
        return self.s.limit

    def preload(self, Journal jr not None, int64_t since_ns):
        """Remember for good the identities the journal holds as delivered at or after
        since_ns (what the previous process delivered within the resume window): the rolling
        generations may forget them during a long replay, this set does not."""
        cdef size_t i, n = 0
        cdef uint64_t size = 16
        cdef uint64_t* tab
        cdef journal* j = &jr.j
        for i in range(j.nbase):
            if j.base[i].ns >= since_ns and j.base[i].key != 0:
                n += 1
        while size < 2 * n + 2:
            size *= 2
        tab = <uint64_t*>calloc(size, sizeof(uint64_t))
        if tab == NULL:
            raise MemoryError()
        for i in range(j.nbase):
            if j.base[i].ns >= since_ns and j.base[i].key != 0:      # 0: no auditID
                _probe(tab, size - 1, j.base[i].key, True)
        pthread_mutex_lock(&self.s.mu)
        free(self.s.pre)
        self.s.pre = tab
        self.s.pre_mask = size - 1
        pthread_mutex_unlock(&self.s.mu)
        return n
