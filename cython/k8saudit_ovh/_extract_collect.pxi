# Collection (included by _extract.pyx): the JSON nodes a path reaches, fanned out over the
# arrays met on the way, in x.nodes. k8saudit's getValuesRecursive decides what "the values of
# a path" are, so the fan-out and index rules live here once, for every handler.

cdef int _push_node(extractor* x, uint32_t node) noexcept nogil:
    if x.nnodes == x.nodes_cap and _grow(&x.nodes, &x.nodes_cap, sizeof(uint32_t)) != 0:
        return H_NOMEM
    x.nodes[x.nnodes] = node
    x.nnodes += 1
    return H_OK


cdef int _collect(extractor* x, uint32_t node, const kpath* p, uint32_t ki, uint64_t idx) noexcept nogil:
    """k8saudit's getValuesRecursive: append to x.nodes the values at keys p[ki:] from node.
    Before each key, an array is fanned out (idx == NOIDX: every element follows the rest of the
    path; an element where it breaks gives a 0 entry) or replaced by its element idx (nested
    arrays too: the reference's "the same N for every array met"). An empty key keeps the node
    (Go's Get()).
    A final array is kept whole. H_NA when the path breaks outside any fan-out: a missing key, a
    key applied to a non-object (null included), an index out of range."""
    cdef uint32_t c
    cdef int rc
    cdef const kkey* k
    while ki < p.n:
        if node and x.doc.nodes[node].kind == J_ARR:
            if idx == NOIDX:
                c = jfirst(&x.doc, node)
                while c:
                    rc = _collect(x, c, p, ki, idx)
                    if rc == H_NA:
                        rc = _push_node(x, 0)
                    if rc != 0:
                        return rc
                    c = jnext(&x.doc, c)
                return H_OK
            node = _nth(x, node, idx)
            if node == 0:
                return H_NA
            continue
        k = _pkey(p, ki)
        if k.n:
            node = _getk(x, node, k)
            if node == 0:
                return H_NA
        ki += 1
    return _push_node(x, node)


cdef inline int _collect_at(extractor* x, const kpath* p, uint64_t idx) noexcept nogil:
    """x.nodes = the nodes _collect finds from the event root along p (H_NA: none)."""
    cdef uint32_t ki
    cdef uint32_t n = _from(x, p, &ki)
    x.nnodes = 0
    if n == 0:
        return H_NA
    return _collect(x, n, p, ki, idx)


cdef int _arrays_at(extractor* x, const kpath* p, uint64_t idx) noexcept nogil:
    """x.nodes = the arrays _collect_at finds along p, without the entries that lack a value.
    H_FAIL when a value is not an array (k8saudit: wrong type), H_NA when the path breaks."""
    cdef uint32_t i, n = 0
    cdef int rc = _collect_at(x, p, idx)
    if rc != 0:
        return rc
    for i in range(x.nnodes):
        if x.nodes[i] == 0:
            continue
        if _kind(x, x.nodes[i]) != J_ARR:
            return H_FAIL
        x.nodes[n] = x.nodes[i]
        n += 1
    x.nnodes = n
    return H_OK


cdef inline int _elements_at(extractor* x, const kpath* p, uint64_t idx) noexcept nogil:
    """x.nodes = the elements of the array at p (_at: no fan-out), only element idx when idx
    != NOIDX. H_NA when there is no value at p (x.nodes left as it was), H_FAIL when the value
    is not an array."""
    cdef uint32_t c, arr = _at(x, p)
    if arr == 0:
        return H_NA
    x.nnodes = 0
    if _kind(x, arr) != J_ARR:
        return H_FAIL
    if idx != NOIDX:
        c = _nth(x, arr, idx)
        return _push_node(x, c) if c else H_OK
    c = jfirst(&x.doc, arr)
    while c:
        if _push_node(x, c) != 0:
            return H_NOMEM
        c = jnext(&x.doc, c)
    return H_OK
