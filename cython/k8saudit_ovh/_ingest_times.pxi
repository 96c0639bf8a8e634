# Times: an audit event's stageTimestamp (Go's time.RFC3339Nano reading) and a GELF
# frame's timestamp (decimal seconds since the epoch), both as ns since the epoch.
# (included by _ingest.pyx; declared in _ingest.pxd)


cdef inline int _digits(const char* s, int n) noexcept nogil:
    cdef int v = 0, i
    for i in range(n):
        if s[i] < c'0' or s[i] > c'9':
            return -1
        v = v * 10 + (s[i] - c'0')
    return v


cdef inline int64_t _days_from_civil(int64_t y, int64_t m, int64_t d) noexcept nogil:
    # Days since 1970-01-01 of a proleptic Gregorian date.
    cdef int64_t era, yoe, doy, doe
    if m <= 2:
        y -= 1
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


cdef bint parse_rfc3339_ns(const char* s, size_t n, uint64_t* out) noexcept nogil:
    """YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM) -> ns since the epoch (>= 1970)."""
    cdef int year, month, day, hour, minute, sec, oh, om, nd = 0, mdays
    cdef int64_t frac = 0, secs
    cdef size_t i = 19
    if n < 20:
        return False
    year = _digits(s, 4)
    month = _digits(s + 5, 2)
    day = _digits(s + 8, 2)
    hour = _digits(s + 11, 2)
    minute = _digits(s + 14, 2)
    sec = _digits(s + 17, 2)
    if (s[4] != c'-' or s[7] != c'-' or s[10] != c'T' or s[13] != c':' or s[16] != c':'
            or year < 0 or month < 1 or month > 12 or day < 1 or hour < 0 or hour > 23
            or minute < 0 or minute > 59 or sec < 0 or sec > 59):
        return False
    mdays = 31
    if month == 4 or month == 6 or month == 9 or month == 11:
        mdays = 30
    elif month == 2:
        mdays = 29 if (year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)) else 28
    if day > mdays:
        return False
    if s[i] == c'.':
        i += 1
        while i < n and c'0' <= s[i] <= c'9':
            if nd < 9:
                frac = frac * 10 + (s[i] - c'0')
            nd += 1
            i += 1
        if nd == 0:
            return False
        while nd < 9:
            frac *= 10
            nd += 1
    if i >= n:
        return False
    secs = _days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + sec
    if s[i] == c'Z':
        if i + 1 != n:
            return False
    elif s[i] == c'+' or s[i] == c'-':
        if i + 6 != n or s[i + 3] != c':':
            return False
        oh = _digits(s + i + 1, 2)
        om = _digits(s + i + 4, 2)
        if oh < 0 or oh > 23 or om < 0 or om > 59:
            return False
        if s[i] == c'+':
            secs -= oh * 3600 + om * 60
        else:
            secs += oh * 3600 + om * 60
    else:
        return False
    # Falco's event time is uint64 ns: from 1970 to 2554-07-21T23:34:33.709551615Z. Later
    # times would wrap around to wrong ones.
    if secs < 0 or secs > 18446744073LL or (secs == 18446744073LL and frac > 709551615):
        return False
    out[0] = <uint64_t>secs * 1000000000ull + <uint64_t>frac
    return True


cdef bint parse_epoch_seconds(const char* s, size_t n, int64_t* out) noexcept nogil:
    """Decimal seconds since the epoch ("1722841200", "1722841200.123456", "1.7e9") -> ns,
    for times after 1970 and before 2262 (int64 ns)."""
    cdef char tmp[64]
    cdef char* endp
    cdef double v
    cdef int64_t secs = 0, frac = 0
    cdef size_t i = 0
    cdef int nd = 0
    if n == 0 or n >= 64:
        return False
    while i < n and c'0' <= s[i] <= c'9':
        if secs > 9223372035LL:
            return False
        secs = secs * 10 + (s[i] - c'0')
        i += 1
    if i == 0:
        return False
    if i < n and s[i] == c'.':
        i += 1
        if i == n or not (c'0' <= s[i] <= c'9'):
            return False
        while i < n and c'0' <= s[i] <= c'9':
            if nd < 9:
                frac = frac * 10 + (s[i] - c'0')
                nd += 1
            i += 1
        while nd < 9:
            frac *= 10
            nd += 1
    if i < n and (s[i] == c'e' or s[i] == c'E'):
        memcpy(tmp, s, n)           # exponent form: rare, let the C library round it
        tmp[n] = 0
        v = strtod(tmp, &endp)
        if endp != tmp + n or not (v > 0 and v < 9223372035.0):
            return False
        out[0] = <int64_t>(v * 1e9)
        return True
    if i != n or secs > 9223372035LL or (secs == 0 and frac == 0):
        return False
    out[0] = secs * 1000000000 + frac
    return True


def parse_rfc3339(str text):
    """ns since the epoch of an RFC 3339 time, by the same rule as stageTimestamp; None when it
    is not one (the begin/end of a past window address)."""
    cdef bytes b = text.encode("utf-8", "replace")
    cdef uint64_t ns = 0
    return ns if parse_rfc3339_ns(b, len(b), &ns) else None
