/*
 * The part of the init-config check that plugin_init can do without Python: is the text one JSON
 * object? (RFC 8259 syntax only.) Everything about keys and values stays in
 * src/k8saudit_ovh/config.py, checked when the Python side is built (first open or extraction);
 * Falco has by then validated the types and ranges against the exported schema (plugin-abi.md
 * 4.3). This check exists for the hosts that do not (the C and ctypes hosts, other embedders),
 * so that a config that cannot be right still fails at init, as before the lazy start.
 */
#include "config_check.h"

#include <stdio.h>

/* Deeper nesting than any config has; the bound keeps the recursion off the stack limit. */
#define MAX_DEPTH 512

typedef struct cursor {
    const char* start;
    const char* p;
    const char* why; /* static text of the first syntax error */
} cursor;

static void skip_ws(cursor* c) {
    while (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r') c->p++;
}

static int bad(cursor* c, const char* why) {
    c->why = why;
    return -1;
}

static int is_digit(char ch) { return ch >= '0' && ch <= '9'; }

static int is_hex(char ch) {
    return is_digit(ch) || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
}

static int string(cursor* c) {
    c->p++; /* the opening quote */
    for (;;) {
        unsigned char ch = (unsigned char)*c->p;
        if (ch == '"') {
            c->p++;
            return 0;
        }
        if (ch == '\0') return bad(c, "unterminated string");
        if (ch < 0x20) return bad(c, "control character in a string");
        if (ch == '\\') {
            c->p++;
            switch (*c->p) {
            case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
                c->p++;
                break;
            case 'u':
                for (int i = 1; i <= 4; i++)
                    if (!is_hex(c->p[i])) return bad(c, "bad \\u escape in a string");
                c->p += 5;
                break;
            default:
                return bad(c, "bad escape in a string");
            }
        } else {
            c->p++;
        }
    }
}

static int number(cursor* c) {
    if (*c->p == '-') c->p++;
    if (*c->p == '0') {
        c->p++;
    } else if (is_digit(*c->p)) {
        while (is_digit(*c->p)) c->p++;
    } else {
        return bad(c, "bad number");
    }
    if (*c->p == '.') {
        c->p++;
        if (!is_digit(*c->p)) return bad(c, "bad number");
        while (is_digit(*c->p)) c->p++;
    }
    if (*c->p == 'e' || *c->p == 'E') {
        c->p++;
        if (*c->p == '+' || *c->p == '-') c->p++;
        if (!is_digit(*c->p)) return bad(c, "bad number");
        while (is_digit(*c->p)) c->p++;
    }
    return 0;
}

static int literal(cursor* c, const char* word) {
    for (; *word; word++, c->p++)
        if (*c->p != *word) return bad(c, "unexpected character");
    return 0;
}

static int value(cursor* c, int depth);

static int container(cursor* c, int depth, char close, int object) {
    if (depth >= MAX_DEPTH) return bad(c, "nested too deeply");
    c->p++; /* '{' or '[' */
    skip_ws(c);
    if (*c->p == close) {
        c->p++;
        return 0;
    }
    for (;;) {
        if (object) {
            if (*c->p != '"') return bad(c, *c->p ? "expected a key (a string)" : "unexpected end");
            if (string(c)) return -1;
            skip_ws(c);
            if (*c->p != ':') return bad(c, *c->p ? "expected ':'" : "unexpected end");
            c->p++;
        }
        if (value(c, depth + 1)) return -1;
        skip_ws(c);
        if (*c->p == close) {
            c->p++;
            return 0;
        }
        if (*c->p != ',') return bad(c, *c->p ? "expected ',' or a closing bracket" : "unexpected end");
        c->p++;
        skip_ws(c);
    }
}

static int value(cursor* c, int depth) {
    skip_ws(c);
    switch (*c->p) {
    case '{': return container(c, depth, '}', 1);
    case '[': return container(c, depth, ']', 0);
    case '"': return string(c);
    case 't': return literal(c, "true");
    case 'f': return literal(c, "false");
    case 'n': return literal(c, "null");
    case '\0': return bad(c, "unexpected end");
    default:
        if (*c->p == '-' || is_digit(*c->p)) return number(c);
        return bad(c, "unexpected character");
    }
}

static const char* kind_of(char first) {
    switch (first) {
    case '[': return "an array";
    case '"': return "a string";
    case 't': case 'f': return "a boolean";
    case 'n': return "null";
    default: return "a number";
    }
}

int k8s_config_check(const char* text, char* err, size_t n) {
    cursor c = {text, text, NULL};
    skip_ws(&c);
    if (*c.p == '\0') return 0; /* no config: the defaults (Falco passes "{}" instead) */
    char first = *c.p;
    if (value(&c, 0) == 0) {
        skip_ws(&c);
        if (*c.p != '\0') bad(&c, "text after the JSON value");
    }
    if (c.why) {
        snprintf(err, n, "k8saudit-ovh: init config is not valid JSON: %s at byte %zu", c.why,
                 (size_t)(c.p - c.start));
        return -1;
    }
    if (first != '{') {
        snprintf(err, n, "k8saudit-ovh: init config must be a JSON object, got %s",
                 kind_of(first));
        return -1;
    }
    return 0;
}
