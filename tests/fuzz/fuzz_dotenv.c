/* fuzz_dotenv.c: arbitrary bytes as a .env file.
 *
 * Checks: the parser agrees with a reference parser written here from the
 * grammar in dotenv.h (line by line instead of a cursor) on whether the file
 * is accepted and, when it is, on every entry (key, value, line); every
 * accepted file written back (double-quoted with escapes, single-quoted or
 * bare, whichever the value allows) parses to the same keys and values; every
 * rejection says FILE:LINE. Then the gateway's validation of every key it
 * knows runs on the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/dotenv.h"
#include "gateway/gateway_config.h"
#include "gateway/log.h"
#include "harmony/strbuf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void must(int cond)
{
    if (!cond) abort();
}

/* ---- the reference parser ----------------------------------------------------------- */

typedef struct ref_entry {
    strbuf key;   /* the key */
    strbuf value; /* its value */
    int line;     /* line where the (winning) entry starts */
} ref_entry;

typedef struct ref_file {
    ref_entry v[64]; /* entries in first-seen order */
    int n;           /* used */
    int too_many;    /* more distinct keys than v holds: no comparison */
} ref_file;

static int blank(char c)
{
    return c == ' ' || c == '\t';
}

static int key_start(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static int key_char(char c)
{
    return key_start(c) || (c >= '0' && c <= '9') || c == '.' || c == '-';
}

static void ref_set(ref_file *f, const char *k, size_t kn, strbuf *val, int line)
{
    for (int i = 0; i < f->n; i++) {
        if (f->v[i].key.len == kn && memcmp(f->v[i].key.data, k, kn) == 0) {
            strbuf_clear(&f->v[i].value);
            f->v[i].value = *val;
            f->v[i].line = line;
            return;
        }
    }
    if (f->n == 64) {
        f->too_many = 1;
        strbuf_clear(val);
        return;
    }
    ref_entry *e = &f->v[f->n++];
    strbuf_init(&e->key);
    strbuf_append(&e->key, k, kn);
    e->value = *val;
    e->line = line;
}

static void ref_free(ref_file *f)
{
    for (int i = 0; i < f->n; i++) {
        strbuf_clear(&f->v[i].key);
        strbuf_clear(&f->v[i].value);
    }
}

/* A quoted value starting at s[*i] (the quote). Advances *i past the closing
 * quote and *line over the newlines inside. 0, or -1 when unterminated. */
static int ref_quoted(const char *s, size_t n, size_t *i, int *line, strbuf *val)
{
    char q = s[(*i)++];
    while (*i < n && s[*i] != q) {
        char c = s[(*i)++];
        if (c == '\n') ++*line;
        if (c != '\\' || q == '\'') {
            strbuf_append(val, &c, 1);
            continue;
        }
        if (*i == n) return -1; /* a backslash at the very end */
        char e = s[(*i)++];
        const char *rep = e == 'n'    ? "\n"
                          : e == 't'  ? "\t"
                          : e == 'r'  ? "\r"
                          : e == '\n' ? ""
                                      : NULL;
        if (e == '\n') ++*line;
        if (rep)
            strbuf_append_str(val, rep);
        else if (e == '\\' || e == '"' || e == '\'' || e == '$')
            strbuf_append(val, &e, 1);
        else
            strbuf_append(val, (const char[]){'\\', e}, 2);
    }
    if (*i == n) return -1;
    ++*i;
    return 0;
}

/* The whole file; 0, or -1 when it is rejected. */
static int ref_parse(const char *s, size_t n, ref_file *f)
{
    if (memchr(s, '\0', n)) return -1;
    size_t i = n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
    int line = 1;
    while (i < n) {
        const char *nl = memchr(s + i, '\n', n - i);
        size_t eol = nl ? (size_t)(nl - s) : n; /* this physical line is s[i..eol) */
        size_t p = i;
        while (p < eol && blank(s[p])) p++;
        if (p == eol || s[p] == '#' || (s[p] == '\r' && p + 1 == eol)) {
            i = eol + 1, line++;
            continue;
        }
        if (s[p] == '\r') return -1; /* a carriage return not ending the line */
        int first = line;
        if (eol - p > 6 && memcmp(s + p, "export", 6) == 0 && blank(s[p + 6]))
            for (p += 6; p < eol && blank(s[p]); p++) continue;
        size_t k = p;
        if (p == eol || !key_start(s[p])) return -1;
        while (p < eol && key_char(s[p])) p++;
        size_t kn = p - k;
        while (p < eol && blank(s[p])) p++;
        if (p == eol || s[p] != '=') return -1;
        for (p++; p < eol && blank(s[p]); p++) continue;
        strbuf val;
        strbuf_init(&val);
        strbuf_append(&val, "", 0);
        if (p < eol && (s[p] == '"' || s[p] == '\'')) {
            if (ref_quoted(s, n, &p, &line, &val) < 0) return strbuf_clear(&val), -1;
            /* after the quote: blanks, then the end of the line or a comment */
            while (p < n && blank(s[p])) p++;
            if (p < n && s[p] != '\n' && s[p] != '#' &&
                !(s[p] == '\r' && (p + 1 == n || s[p + 1] == '\n')))
                return strbuf_clear(&val), -1;
            nl = memchr(s + p, '\n', n - p);
            eol = nl ? (size_t)(nl - s) : n;
        } else {
            size_t end = p;
            while (end < eol && !(s[end] == '#' && end > p && blank(s[end - 1]))) end++;
            while (end > p && (blank(s[end - 1]) || s[end - 1] == '\r')) end--;
            strbuf_append(&val, s + p, end - p);
        }
        ref_set(f, s + k, kn, &val, first);
        i = eol + 1, line++;
    }
    return 0;
}

/* ---- writing a parsed file back ----------------------------------------------------- */

/* `KEY=value` in a form the value allows, picked by `style` (bare, single or
 * double quotes; export; blanks after '='; newlines raw or escaped; a comment
 * and CRLF). No blank before '=': "export = x" is the export prefix. */
static void write_entry(strbuf *out, const fk_dotenv_entry *e, unsigned style)
{
    const char *v = e->value;
    size_t n = strlen(v);
    int bare = n && !strpbrk(v, "#\n\r\"'") && !blank(v[0]) && !blank(v[n - 1]);
    strbuf_printf(out, "%s%s=%s", style & 4 ? "export " : "", e->key, style & 32 ? " \t" : "");
    if (bare && style % 3 == 0) {
        strbuf_append(out, v, n);
    } else if (!strchr(v, '\'') && style % 3 == 1) {
        strbuf_printf(out, "'%s'", v);
    } else {
        strbuf_append_str(out, "\"");
        for (const char *c = v; *c; c++) {
            if (*c == '"' || *c == '\\' || *c == '$') strbuf_append_str(out, "\\");
            if (*c == '\n')
                strbuf_append_str(out, style & 8 ? "\\n" : "\n");
            else
                strbuf_append(out, c, 1);
        }
        strbuf_append_str(out, "\"");
    }
    strbuf_append_str(out, style & 16 ? "  # note\r\n" : "\n");
}

static void check_round_trip(const fk_dotenv *d, unsigned seed)
{
    strbuf text;
    strbuf_init(&text);
    strbuf_append_str(&text, "# written back\n\n");
    for (size_t i = 0; i < d->n; i++) write_entry(&text, &d->v[i], seed + (unsigned)i * 7);
    fk_dotenv back;
    fk_dotenv_init(&back);
    char err[512];
    must(fk_dotenv_parse(text.data, text.len, "back.env", &back, err, sizeof err) == 0);
    must(back.n == d->n);
    for (size_t i = 0; i < d->n; i++) {
        must(strcmp(back.v[i].key, d->v[i].key) == 0);
        must(strcmp(back.v[i].value, d->v[i].value) == 0);
    }
    fk_dotenv_free(&back);
    strbuf_clear(&text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fk_log_set_level(-1); /* warnings about unknown keys would flood the output */
    const char *text = (const char *)data;
    char err[512];
    fk_dotenv d;
    fk_dotenv_init(&d);
    int rc = fk_dotenv_parse(text, size, "fuzz.env", &d, err, sizeof err);
    ref_file ref;
    memset(&ref, 0, sizeof ref);
    int ref_rc = ref_parse(text, size, &ref);
    must(rc == ref_rc);
    if (rc < 0) must(strncmp(err, "fuzz.env:", 9) == 0);
    if (rc == 0 && !ref.too_many) {
        must(d.n == (size_t)ref.n);
        for (size_t i = 0; i < d.n; i++) {
            must(strcmp(d.v[i].key, ref.v[i].key.data) == 0);
            must(strlen(d.v[i].value) == ref.v[i].value.len);
            must(memcmp(d.v[i].value, ref.v[i].value.data, ref.v[i].value.len) == 0);
            must(d.v[i].line == ref.v[i].line);
            must(fk_dotenv_find(&d, d.v[i].key) == &d.v[i]);
        }
        check_round_trip(&d, size ? data[0] : 0);
    }
    ref_free(&ref);
    fk_dotenv_free(&d);
    fk_config c;
    fk_config_load_buffer(&c, text, size, "fuzz.env", err, sizeof err);
    fk_config_free(&c);
    return 0;
}
