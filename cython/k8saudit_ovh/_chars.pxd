# ASCII character classes shared by the JSON unescaper (_jsonidx) and the URL parser
# (_extract_gourl.pxi).

cdef inline int hexval(char c) noexcept nogil:
    if b'0' <= c <= b'9':
        return c - 48
    if b'a' <= c <= b'f':
        return c - 87
    if b'A' <= c <= b'F':
        return c - 55
    return -1

cdef inline bint is_alpha(char c) noexcept nogil:
    return b'a' <= c <= b'z' or b'A' <= c <= b'Z'

cdef inline bint is_digit(char c) noexcept nogil:
    return b'0' <= c <= b'9'
