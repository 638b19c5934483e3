/* special_text.c: find or escape spelled-out special tokens (see the header). */
#include "special_text.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const rendered_fields[] = {"messages", "tools", "tool_choice"};

static const char zwsp[] = "\xe2\x80\x8b"; /* U+200B ZERO WIDTH SPACE */

static int name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* Length of the spelling "<|NAME|>" that starts s[0..n), or 0. */
static size_t spelling_at(const char *s, size_t n)
{
    if (n < 5 || s[0] != '<' || s[1] != '|') return 0;
    size_t i = 2;
    while (i < n && name_char(s[i])) i++;
    if (i == 2 || i + 1 >= n || s[i] != '|' || s[i + 1] != '>') return 0;
    return i + 2;
}

/* Offset of the first spelling in s[0..n), or n when there is none. */
static size_t first_spelling(const char *s, size_t n)
{
    for (size_t i = 0; i + 5 <= n; i++)
        if (s[i] == '<' && spelling_at(s + i, n - i)) return i;
    return n;
}

/* ---- finding ----------------------------------------------------------------------- */

/* Append to the path at `at`; returns the new end (clamped to the buffer). */
__attribute__((format(printf, 4, 5))) static size_t path_add(char *path, size_t len, size_t at,
                                                             const char *fmt, ...)
{
    if (at >= len) return at;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(path + at, len - at, fmt, ap);
    va_end(ap);
    if (n < 0) return at;
    return at + (size_t)n < len ? at + (size_t)n : len - 1;
}

static int find_in(const json_t *v, char *path, size_t len, size_t at)
{
    if (json_is_string(v)) {
        size_t n = json_string_length(v);
        return first_spelling(json_string_value(v), n) < n;
    }
    if (json_is_array(v)) {
        size_t i;
        const json_t *e;
        json_array_foreach(v, i, e)
        {
            size_t end = path_add(path, len, at, "[%zu]", i);
            if (find_in(e, path, len, end)) return 1;
        }
        return 0;
    }
    const char *key;
    const json_t *e;
    json_object_foreach((json_t *)v, key, e)
    {
        size_t end = path_add(path, len, at, ".%s", key);
        size_t kl = strlen(key);
        if (first_spelling(key, kl) < kl || find_in(e, path, len, end)) return 1;
    }
    return 0;
}

int fk_special_text_find(const json_t *body, char *where, size_t where_len)
{
    for (size_t i = 0; i < sizeof rendered_fields / sizeof *rendered_fields; i++) {
        const json_t *v = json_object_get(body, rendered_fields[i]);
        size_t at = path_add(where, where_len, 0, "%s", rendered_fields[i]);
        if (v && find_in(v, where, where_len, at)) return 1;
    }
    if (where_len) where[0] = '\0';
    return 0;
}

/* ---- escaping ---------------------------------------------------------------------- */

/* s[0..n) with a zero width space after the '<' of every spelling (malloc'd,
 * NUL-terminated, *out_len bytes), or NULL when out of memory. *count grows by
 * the spellings escaped. */
static char *escaped(const char *s, size_t n, size_t *out_len, int *count)
{
    size_t spellings = 0;
    for (size_t i = first_spelling(s, n); i < n; i += 1 + first_spelling(s + i + 1, n - i - 1))
        spellings++;
    char *out = malloc(n + spellings * (sizeof zwsp - 1) + 1);
    if (!out) return NULL;
    size_t o = 0, from = 0;
    for (size_t i = first_spelling(s, n); i < n; i += 1 + first_spelling(s + i + 1, n - i - 1)) {
        memcpy(out + o, s + from, i + 1 - from);
        o += i + 1 - from;
        memcpy(out + o, zwsp, sizeof zwsp - 1);
        o += sizeof zwsp - 1;
        from = i + 1;
    }
    memcpy(out + o, s + from, n - from);
    o += n - from;
    out[o] = '\0';
    *out_len = o;
    *count += (int)spellings;
    return out;
}

static int escape_in(json_t *v, int *count)
{
    if (json_is_string(v)) {
        size_t n = json_string_length(v), len;
        if (first_spelling(json_string_value(v), n) == n) return 0;
        char *e = escaped(json_string_value(v), n, &len, count);
        int rc = e ? json_string_setn_nocheck(v, e, len) : -1;
        free(e);
        return rc;
    }
    if (json_is_array(v)) {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) if (escape_in(e, count) < 0) return -1;
        return 0;
    }
    const char *key;
    json_t *e;
    void *tmp;
    json_object_foreach_safe(v, tmp, key, e)
    {
        if (escape_in(e, count) < 0) return -1;
        size_t kl = strlen(key), len;
        if (first_spelling(key, kl) == kl) continue;
        char *k = escaped(key, kl, &len, count);
        char *old = strdup(key);
        int rc = k && old && json_object_set(v, k, e) == 0 ? json_object_del(v, old) : -1;
        free(k);
        free(old);
        if (rc < 0) return -1;
    }
    return 0;
}

int fk_special_text_escape(json_t *body)
{
    int count = 0;
    for (size_t i = 0; i < sizeof rendered_fields / sizeof *rendered_fields; i++) {
        json_t *v = json_object_get(body, rendered_fields[i]);
        if (v && escape_in(v, &count) < 0) return -1;
    }
    return count;
}
