# Go's net/url, the part ka.uri.param needs (included by _extract.pyx): k8saudit runs
# url.Parse(requestURI), then url.ParseQuery(RawQuery), and returns the first value of the key.
# A URL or query Go rejects gives no value and a failure, so the same checks are made here:
# percent-escapes, the authority (userinfo, host, port, bracketed IPv6 with a zone), the scheme,
# a colon in the first path segment, ';' in the query.
#
# Compiled into _extract, not a module of its own: h_uri_param calls it on the extraction path
# without the GIL, any Python object or a cross-module call.


cdef inline bint _pct_ok(const char* s, size_t n) noexcept nogil:
    """Every '%' is followed by two hex digits (Go's unescape of a path, query, fragment...)."""
    cdef size_t i = 0
    while i < n:
        if s[i] == b'%':
            if i + 2 >= n or hexval(s[i + 1]) < 0 or hexval(s[i + 2]) < 0:
                return False
            i += 3
        else:
            i += 1
    return True


cdef inline bint _host_plain(unsigned char c) noexcept nogil:
    """An ASCII byte Go accepts unescaped in a host (shouldEscape(c, encodeHost) is false)."""
    return (is_alpha(c) or is_digit(c)) or (c != 0 and strchr(b"!$&'()*+,;=:[]<>\"-_.~", c) != NULL)


cdef inline bint _host_unescape_ok(const char* s, size_t n, bint zone) noexcept nogil:
    """Go's unescape(s, encodeHost / encodeZone) succeeds."""
    cdef size_t i = 0
    cdef int v
    while i < n:
        if s[i] == b'%':
            if i + 2 >= n or hexval(s[i + 1]) < 0 or hexval(s[i + 2]) < 0:
                return False
            v = hexval(s[i + 1]) * 16 + hexval(s[i + 2])
            if not (s[i + 1] == b'2' and s[i + 2] == b'5'):
                if not zone and v < 0x80:
                    return False
                if zone and v != 0x20 and not (v < 0x80 and _host_plain(<unsigned char>v)):
                    return False
            i += 3
        else:
            if <unsigned char>s[i] < 0x80 and not _host_plain(<unsigned char>s[i]):
                return False
            i += 1
    return True


cdef inline bint _port_ok(const char* s, size_t n) noexcept nogil:
    cdef size_t i
    if n == 0:
        return True
    if s[0] != b':':
        return False
    for i in range(1, n):
        if not is_digit(s[i]):
            return False
    return True


cdef inline const char* _memrchr(const char* s, char c, size_t n) noexcept nogil:
    while n:
        n -= 1
        if s[n] == c:
            return s + n
    return NULL


cdef inline bint _host_ok(const char* h, size_t n) noexcept nogil:
    cdef const char* e
    cdef size_t i, z
    if n and h[0] == b'[':
        e = _memrchr(h, b']', n)
        if e == NULL:
            return False
        i = e - h
        if not _port_ok(e + 1, n - i - 1):
            return False
        # An IPv6 literal (recent Go rejects anything else between the brackets), maybe with a zone.
        z = 1
        while z < i and not (h[z] == b'%' and z + 2 < i and h[z + 1] == b'2' and h[z + 2] == b'5'):
            if not (hexval(h[z]) >= 0 or h[z] == b':' or h[z] == b'.'):
                return False
            z += 1
        if z == 1:
            return False
        if z < i:
            return (_host_unescape_ok(h, z, False) and _host_unescape_ok(h + z, i - z, True)
                    and _host_unescape_ok(h + i, n - i, False))
    else:
        e = _memrchr(h, b':', n)
        if e != NULL and not _port_ok(e, n - (e - h)):
            return False
    return _host_unescape_ok(h, n, False)


cdef inline bint _authority_ok(const char* a, size_t n) noexcept nogil:
    cdef const char* at = _memrchr(a, b'@', n)
    cdef size_t i, un
    cdef unsigned char c
    if at == NULL:
        return _host_ok(a, n)
    un = at - a
    if not _host_ok(at + 1, n - un - 1):
        return False
    for i in range(un):
        c = <unsigned char>a[i]
        if not (is_alpha(c) or is_digit(c) or (c != 0 and strchr(b"-._:~!$&'()*+,;=%@", c) != NULL)):
            return False
    return _pct_ok(a, un)


cdef inline int _go_raw_query(const char* s, size_t n, const char** q, size_t* qn) noexcept nogil:
    """RawQuery of Go's url.Parse(s[0:n]) in q/qn (empty when none); -1 when url.Parse fails."""
    cdef const char* h = <const char*>memchr(s, b'#', n)
    cdef size_t un = (h - s) if h != NULL else n
    cdef const char* rest = s
    cdef const char* p
    cdef size_t rn = un, i
    cdef bint scheme = False
    cdef char c
    q[0] = s
    qn[0] = 0
    if h != NULL and not _pct_ok(h + 1, n - un - 1):
        return -1
    for i in range(un):
        if <unsigned char>s[i] < 0x20 or s[i] == 0x7f:
            return -1
    if un == 1 and s[0] == b'*':
        return 0
    for i in range(un):
        c = s[i]
        if is_alpha(c):
            continue
        if is_digit(c) or c == b'+' or c == b'-' or c == b'.':
            if i == 0:
                break
            continue
        if c == b':':
            if i == 0:
                return -1
            scheme = True
            rest = s + i + 1
            rn = un - i - 1
        break
    p = <const char*>memchr(rest, b'?', rn)
    if p != NULL:
        if p == rest + rn - 1:          # a lone trailing '?': ForceQuery, empty RawQuery
            rn -= 1
        else:
            q[0] = p + 1
            qn[0] = rest + rn - (p + 1)
            rn = p - rest
    if rn == 0 or rest[0] != b'/':
        if scheme:
            return 0                    # opaque URL
        p = <const char*>memchr(rest, b'/', rn)
        if memchr(rest, b':', (p - rest) if p != NULL else rn) != NULL:
            return -1                   # first path segment in URL cannot contain colon
    if rn >= 2 and rest[0] == b'/' and rest[1] == b'/' and (scheme or rn < 3 or rest[2] != b'/'):
        p = <const char*>memchr(rest + 2, b'/', rn - 2)
        i = (p - (rest + 2)) if p != NULL else rn - 2
        if not _authority_ok(rest + 2, i):
            return -1
        rest += 2 + i
        rn -= 2 + i
    return 0 if _pct_ok(rest, rn) else -1


cdef inline char _qchar(const char* s, size_t* i) noexcept nogil:
    """The query-unescaped character at s[i[0]] ('+' is a space, %XX a byte; escapes already
    checked), and i moved past it."""
    cdef char c = s[i[0]]
    if c == b'+':
        i[0] += 1
        return b' '
    if c == b'%':
        i[0] += 3
        return <char>(hexval(s[i[0] - 2]) * 16 + hexval(s[i[0] - 1]))
    i[0] += 1
    return c


cdef inline bint _qkey_eq(const char* s, size_t n, const char* key, size_t kl) noexcept nogil:
    """Is the query-unescaped text of s[0:n] (escapes already checked) equal to key?"""
    cdef size_t i = 0, j = 0
    while i < n:
        if j >= kl or key[j] != _qchar(s, &i):
            return False
        j += 1
    return j == kl


cdef inline int go_query_unescape(sbuf* out, const char* s, size_t n) noexcept nogil:
    """Append the query-unescaped text of a value go_query_value found (its escapes are
    checked); -1 when out of memory."""
    cdef size_t i = 0
    if sbuf_reserve(out, n) != 0:
        return -1
    while i < n:
        out.p[out.len] = _qchar(s, &i)
        out.len += 1
    return 0


cdef inline int go_query_value(const char* s, size_t n, const char* key, size_t kn,
                               const char** value, size_t* value_n) noexcept nogil:
    """The first value of query parameter key[0:kn] in URL s[0:n], still query-escaped, in
    value/value_n (append it with go_query_unescape). 1 when found, 0 when the URL has no such
    parameter (or no query at all, whether or not Go can parse it), -1 when Go's url.Parse or
    ParseQuery rejects it (bad %-escape, ';' separator, ...)."""
    cdef const char* q
    cdef const char* piece
    cdef const char* amp
    cdef const char* eq
    cdef size_t qn = 0, i, end, pn
    value[0] = NULL
    value_n[0] = 0
    if memchr(s, b'?', n) == NULL:
        return 0
    if _go_raw_query(s, n, &q, &qn) != 0:
        return -1
    i = 0
    while i < qn:
        amp = <const char*>memchr(q + i, b'&', qn - i)
        end = (amp - q) if amp != NULL else qn
        piece = q + i
        pn = end - i
        i = end + 1
        if pn == 0:
            continue
        if memchr(piece, b';', pn) != NULL:
            return -1                   # invalid semicolon separator in query
        eq = <const char*>memchr(piece, b'=', pn)
        if eq == NULL:
            if not _pct_ok(piece, pn):
                return -1
            if value[0] == NULL and _qkey_eq(piece, pn, key, kn):
                value[0] = piece + pn
                value_n[0] = 0
        else:
            if not _pct_ok(piece, eq - piece) or not _pct_ok(eq + 1, pn - (eq - piece) - 1):
                return -1
            if value[0] == NULL and _qkey_eq(piece, eq - piece, key, kn):
                value[0] = eq + 1
                value_n[0] = pn - (eq - piece) - 1
    return 1 if value[0] != NULL else 0
