/* parser.c: the streaming Harmony parser (hm_parser_*).
 *
 * States: EXPECT_START -> HEADER -> CONTENT -> (terminator) -> EXPECT_START.
 * Header bytes are collected until <|message|> and then parsed by upstream
 * openai/harmony's rules (v0.0.8, pinned by tests/fixtures/harmony/parse):
 *
 *   1. the channel is the text after the first "<|channel|>" up to Unicode
 *      whitespace or '<'; an empty value is an error; marker and value are
 *      cut out and the rest is trimmed;
 *   2. every "<|constrain|>" gets a space before it (then trim again);
 *   3. the rest splits on ASCII whitespace into parts; without a role hint
 *      the first part is the role (an unknown word followed by more parts, or
 *      starting with "to=", is a tool author: role tool, name = the word);
 *      a first part equal to the role's name is dropped;
 *   4. a last part "to=X" is the recipient X; a single part is the recipient;
 *      otherwise the last part is the content type and the one before it the
 *      recipient ("to=" stripped); anything left is an error.
 *
 * Strict mode is upstream's. Non-strict mode (the gateway's) never loses
 * model text:
 *   - a header closed by <|end|>, <|return|> or <|call|> becomes a message:
 *     its channel, and as content the header text after the channel value
 *     and the whitespace after it (a leading role word dropped), byte for byte;
 *     a header with no channel and no text gives no message;
 *   - where <|start|> was expected, any other piece (after a first message,
 *     or with the assistant role hint) opens an assistant header, except
 *     <|endoftext|> (a sampling stop, not text), which is skipped;
 *   - a header abandoned by <|start|> or by the end of the stream becomes a
 *     message the same way, unless all it holds is header syntax (channel,
 *     "to=X", a content type): then nothing is lost and no message is made;
 *   - header words that strict mode rejects as left over (or an unknown lone
 *     role word) do not fail: the header text becomes the start of the
 *     content, without recipient or content type (resp. a tool author);
 *   - a header that is not valid UTF-8 is repaired (U+FFFD) instead of failing;
 *   - a header that grows past MAX_HEADER_BYTES without <|message|> is read
 *     as content right away (see header_overflow), so it streams.
 * Errors both modes keep: an empty channel value, and a first piece other
 * than <|start|> when there is no role hint.
 *
 * Content: terminators close the message; every other special token is kept
 * as its literal text; bytes go through hm_utf8_stream (see utf8.h). */
#include "harmony/harmony.h"

#include <stdlib.h>
#include <string.h>

#include "harmony/strbuf.h"
#include "harmony/utf8.h"

#define CHANNEL_MARKER "<|channel|>"
#define CONSTRAIN_MARKER "<|constrain|>"
/* Non-strict: a header longer than this is read as content (real ones are
 * well under 200 bytes), so malformed output streams instead of piling up. */
#define MAX_HEADER_BYTES 1024

typedef enum parser_state {
    PS_EXPECT_START = 0, /* between messages: <|start|> expected */
    PS_HEADER = 1,       /* collecting header bytes up to <|message|> */
    PS_CONTENT = 2,      /* inside a message's content */
    PS_FAILED = 3,       /* an error was reported; nothing more is accepted */
} parser_state;

/* The special tokens the state machine reacts to. */
typedef enum special_kind {
    SK_NONE = 0,    /* text, or a special token kept as text */
    SK_START = 1,   /* <|start|> */
    SK_MESSAGE = 2, /* <|message|> */
    SK_END = 3,     /* <|end|> */
    SK_RETURN = 4,  /* <|return|> */
    SK_CALL = 5,    /* <|call|> */
    SK_EOT = 6,     /* <|endoftext|> */
} special_kind;

/* A parsed header; strings owned. */
typedef struct header {
    hm_role role;       /* author role */
    char *name;         /* tool author, HM_ROLE_TOOL only */
    char *channel;      /* channel value or NULL */
    char *recipient;    /* recipient without "to=", or NULL */
    char *content_type; /* content type (may keep "<|constrain|>") or NULL */
} header;

struct hm_parser {
    hm_parser_options opts; /* strict mode, role hint */
    hm_event_fn fn;         /* event sink */
    void *ud;               /* its user data */
    parser_state state;     /* where in the stream we are */
    int role_implied;       /* the header being read is an assistant's without a role word */
    size_t n_messages;      /* messages completed so far */
    strbuf header_bytes;    /* raw header bytes collected so far */
    header cur;             /* header of the message being read (PS_CONTENT) */
    hm_utf8_stream utf8;    /* content bytes not yet emitted */
    strbuf out;             /* text of the CONTENT event being built */
};

/* ==== small string helpers ===================================================== */

static int starts_with(const char *s, size_t n, const char *prefix)
{
    size_t k = strlen(prefix);
    return n >= k && memcmp(s, prefix, k) == 0;
}

static int is_ascii_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r';
}

/* Index of the first byte of s[i..n) that is not Unicode whitespace. */
static size_t skip_space(const char *s, size_t n, size_t i)
{
    while (i < n) {
        uint32_t cp;
        size_t k = hm_utf8_decode(s + i, n - i, &cp);
        if (!hm_unicode_is_space(cp)) break;
        i += k;
    }
    return i;
}

/* Length of s[0..n) without trailing Unicode whitespace. */
static size_t trim_end(const char *s, size_t n)
{
    size_t end = 0, i = 0;
    while (i < n) {
        uint32_t cp;
        i += hm_utf8_decode(s + i, n - i, &cp);
        if (!hm_unicode_is_space(cp)) end = i;
    }
    return end;
}

static char *dup_n(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

static const char *find_n(const char *s, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (s[i] == needle[0] && memcmp(s + i, needle, k) == 0) return s + i;
    return NULL;
}

static special_kind special_of(const char *text, size_t len, int is_special)
{
    if (!is_special) return SK_NONE;
    static const struct {
        const char *text;
        special_kind kind;
    } table[] = {{"<|start|>", SK_START},   {"<|message|>", SK_MESSAGE}, {"<|end|>", SK_END},
                 {"<|return|>", SK_RETURN}, {"<|call|>", SK_CALL},       {"<|endoftext|>", SK_EOT}};
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (strlen(table[i].text) == len && memcmp(table[i].text, text, len) == 0)
            return table[i].kind;
    return SK_NONE;
}

static hm_terminator terminator_of(special_kind k)
{
    return k == SK_END ? HM_TERM_END : k == SK_RETURN ? HM_TERM_RETURN : HM_TERM_CALL;
}

static int role_from_word(const char *w, size_t n, hm_role *role)
{
    static const struct {
        const char *name;
        hm_role role;
    } roles[] = {{"user", HM_ROLE_USER},
                 {"assistant", HM_ROLE_ASSISTANT},
                 {"system", HM_ROLE_SYSTEM},
                 {"developer", HM_ROLE_DEVELOPER},
                 {"tool", HM_ROLE_TOOL}};
    for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++)
        if (strlen(roles[i].name) == n && memcmp(roles[i].name, w, n) == 0) {
            *role = roles[i].role;
            return 1;
        }
    return 0;
}

static const char *role_name(hm_role r)
{
    static const char *names[] = {"system", "developer", "user", "assistant", "tool"};
    return names[r];
}

static void header_clear(header *h)
{
    free(h->name);
    free(h->channel);
    free(h->recipient);
    free(h->content_type);
    memset(h, 0, sizeof *h);
}

/* ==== events ======================================================================= */

static void event_fill(const hm_parser *p, hm_event *ev, hm_event_kind kind)
{
    memset(ev, 0, sizeof *ev);
    ev->kind = kind;
    ev->role = p->cur.role;
    ev->name = p->cur.name;
    ev->channel = p->cur.channel;
    ev->recipient = p->cur.recipient;
    ev->content_type = p->cur.content_type;
}

static int fail(hm_parser *p, const char *message)
{
    hm_event ev;
    event_fill(p, &ev, HM_EV_ERROR);
    ev.error = message;
    p->state = PS_FAILED;
    p->fn(p->ud, &ev);
    return -1;
}

static int fail_oom(hm_parser *p)
{
    return fail(p, "out of memory");
}

static void emit_start(hm_parser *p)
{
    hm_event ev;
    event_fill(p, &ev, HM_EV_MESSAGE_START);
    p->fn(p->ud, &ev);
}

/* Emits p->out as one CONTENT event when it holds text, then empties it. */
static void emit_out(hm_parser *p)
{
    if (p->out.len == 0) return;
    hm_event ev;
    event_fill(p, &ev, HM_EV_CONTENT);
    ev.text = p->out.data;
    ev.len = p->out.len;
    p->fn(p->ud, &ev);
    strbuf_reset(&p->out);
}

/* Content bytes of the current message (any piece that is not a terminator). */
static int content_bytes(hm_parser *p, const char *text, size_t len)
{
    if (hm_utf8_stream_push(&p->utf8, text, len, &p->out) < 0) return fail_oom(p);
    emit_out(p);
    return 0;
}

/* Closes the current message: flushes held bytes, MESSAGE_END, back to EXPECT_START. */
static int end_message(hm_parser *p, hm_terminator term)
{
    if (hm_utf8_stream_flush(&p->utf8, &p->out) < 0) return fail_oom(p);
    emit_out(p);
    hm_event ev;
    event_fill(p, &ev, HM_EV_MESSAGE_END);
    ev.terminator = term;
    p->fn(p->ud, &ev);
    header_clear(&p->cur);
    p->n_messages++;
    p->state = PS_EXPECT_START;
    return 0;
}

/* ==== header parsing ================================================================== */

/* Where the channel is in a header string (byte offsets). */
typedef struct channel_span {
    int found;        /* 1 when "<|channel|>" occurs */
    size_t marker_at; /* offset of the marker */
    size_t value_at;  /* offset of the value (just after the marker) */
    size_t value_end; /* end of the value: first whitespace or '<' */
} channel_span;

static channel_span find_channel(const char *h, size_t n)
{
    channel_span c = {0, 0, 0, 0};
    const char *m = find_n(h, n, CHANNEL_MARKER);
    if (!m) return c;
    c.found = 1;
    c.marker_at = (size_t)(m - h);
    c.value_at = c.marker_at + strlen(CHANNEL_MARKER);
    size_t i = c.value_at;
    while (i < n && h[i] != '<') {
        uint32_t cp;
        size_t k = hm_utf8_decode(h + i, n - i, &cp);
        if (hm_unicode_is_space(cp)) break;
        i += k;
    }
    c.value_end = i;
    return c;
}

/* A header part: a slice of the normalised header string. */
typedef struct part {
    const char *s; /* start */
    size_t n;      /* length */
} part;

/* Splits s[0..n) on ASCII whitespace into parts (malloc'd array, *count). */
static part *split_parts(const char *s, size_t n, size_t *count)
{
    part *parts = malloc(sizeof *parts * (n / 2 + 1));
    if (!parts) return NULL;
    size_t c = 0, i = 0;
    while (i < n) {
        while (i < n && is_ascii_space(s[i])) i++;
        if (i >= n) break;
        size_t start = i;
        while (i < n && !is_ascii_space(s[i])) i++;
        parts[c].s = s + start;
        parts[c].n = i - start;
        c++;
    }
    *count = c;
    return parts;
}

/* Steps 1-2 of the header rules: the header without channel, trimmed, with a
 * space before every <|constrain|>. Appends to norm. */
static int normalise_header(const char *h, size_t n, const channel_span *ch, strbuf *norm)
{
    strbuf cut;
    strbuf_init(&cut);
    if (ch->found) {
        strbuf_append(&cut, h, ch->marker_at);
        strbuf_append(&cut, h + ch->value_end, n - ch->value_end);
    } else {
        strbuf_append(&cut, h, n);
    }
    const char *s = cut.data ? cut.data : "";
    size_t b = skip_space(s, cut.len, 0);
    size_t e = trim_end(s, cut.len);
    if (e < b) e = b;
    int has_constrain = find_n(s + b, e - b, CONSTRAIN_MARKER) != NULL;
    if (!has_constrain) {
        strbuf_append(norm, s + b, e - b);
    } else {
        strbuf spaced;
        strbuf_init(&spaced);
        size_t i = b, k = strlen(CONSTRAIN_MARKER);
        while (i < e) {
            const char *m = find_n(s + i, e - i, CONSTRAIN_MARKER);
            size_t upto = m ? (size_t)(m - s) : e;
            strbuf_append(&spaced, s + i, upto - i);
            if (!m) break;
            strbuf_append(&spaced, " " CONSTRAIN_MARKER, k + 1);
            i = upto + k;
        }
        const char *t = spaced.data ? spaced.data : "";
        size_t tb = skip_space(t, spaced.len, 0);
        size_t te = trim_end(t, spaced.len);
        strbuf_append(norm, t + tb, te > tb ? te - tb : 0);
        if (spaced.oom) norm->oom = 1;
        strbuf_clear(&spaced);
    }
    if (cut.oom) norm->oom = 1;
    strbuf_clear(&cut);
    return norm->oom ? -1 : 0;
}

/* The text a non-strict recovery keeps from header h[0..n): what follows the
 * channel value and its whitespace, after whatever came before the marker
 * minus a leading role word. Only h[0..limit) is searched for the channel,
 * role word and whitespace; the rest is kept as it is. Sets *role. Appends
 * to text. */
static int recovery_text(const hm_parser *p, const char *h, size_t n, size_t limit, strbuf *text,
                         hm_role *role)
{
    channel_span ch = find_channel(h, limit);
    size_t pre_end = ch.found ? ch.marker_at : limit;
    size_t q = skip_space(h, pre_end, 0), w = q;
    while (w < pre_end && !is_ascii_space(h[w]) && h[w] != '<') w++;
    hm_role r = HM_ROLE_ASSISTANT;
    size_t pre_start = 0;
    int is_role = w > q && role_from_word(h + q, w - q, &r);
    if (is_role && p->role_implied && r != HM_ROLE_ASSISTANT) is_role = 0;
    if (is_role)
        pre_start = skip_space(h, pre_end, w);
    else
        r = HM_ROLE_ASSISTANT;
    *role = r;
    strbuf_append(text, h + pre_start, pre_end - pre_start);
    size_t rest = ch.found ? skip_space(h, limit, ch.value_end) : pre_end;
    strbuf_append(text, h + rest, n - rest);
    return text->oom ? -1 : 0;
}

/* 1 when header-remainder text is nothing but header syntax ("to=X", a
 * content type after it, "<|constrain|>..."): abandoning it loses no text. */
static int only_header_syntax(const char *t, size_t n)
{
    strbuf norm;
    strbuf_init(&norm);
    channel_span none = {0, 0, 0, 0};
    if (normalise_header(t, n, &none, &norm) < 0) {
        strbuf_clear(&norm);
        return 0;
    }
    size_t count = 0;
    part *parts = split_parts(norm.data ? norm.data : "", norm.len, &count);
    int syntax = parts != NULL;
    for (size_t i = 0; parts && i < count; i++) {
        int ok = starts_with(parts[i].s, parts[i].n, "to=") ||
                 starts_with(parts[i].s, parts[i].n, CONSTRAIN_MARKER) ||
                 (count == 2 && i == 1 && starts_with(parts[0].s, parts[0].n, "to="));
        if (!ok) syntax = 0;
    }
    free(parts);
    strbuf_clear(&norm);
    return syntax;
}

/* The header bytes as valid UTF-8: as they are, or repaired (non-strict).
 * Returns 0, or -1 after reporting the error. */
static int header_text(hm_parser *p, strbuf *h)
{
    size_t valid, bad;
    const char *raw = p->header_bytes.data ? p->header_bytes.data : "";
    if (hm_utf8_check((const unsigned char *)raw, p->header_bytes.len, &valid, &bad) ==
        HM_UTF8_VALID) {
        if (strbuf_append(h, raw, p->header_bytes.len) < 0) return fail_oom(p);
        return 0;
    }
    if (p->opts.strict) return fail(p, "could not decode header");
    if (hm_utf8_append_lossy(h, raw, p->header_bytes.len) < 0) return fail_oom(p);
    return 0;
}

static int set_str(char **dst, const char *s, size_t n)
{
    *dst = dup_n(s, n);
    return *dst ? 0 : -1;
}

static void strip_to(const char **s, size_t *n)
{
    if (starts_with(*s, *n, "to=")) {
        *s += 3;
        *n -= 3;
    }
}

/* Steps 3-4: role, recipient and content type from the parts. Returns 0; 1
 * when parts are left over (strict: an error); -1 with *err set on a
 * header error; -2 out of memory. */
static int assign_parts(hm_parser *p, part *parts, size_t count, header *out, const char **err)
{
    size_t first = 0;
    if (p->role_implied) {
        out->role = HM_ROLE_ASSISTANT;
    } else {
        if (count == 0) {
            if (p->opts.strict) {
                *err = "message header did not contain a role";
                return -1;
            }
            out->role = HM_ROLE_ASSISTANT;
        } else if (!role_from_word(parts[0].s, parts[0].n, &out->role)) {
            int to_first = starts_with(parts[0].s, parts[0].n, "to=");
            if (count == 1 && !to_first && p->opts.strict) {
                *err = "Unknown role";
                return -1;
            }
            out->role = HM_ROLE_TOOL;
            if (set_str(&out->name, parts[0].s, parts[0].n) < 0) return -2;
            first = 1;
        } else if (out->role == HM_ROLE_TOOL) {
            if (set_str(&out->name, parts[0].s, parts[0].n) < 0) return -2;
        }
    }
    const char *rn = role_name(out->role);
    if (first < count && parts[first].n == strlen(rn) &&
        memcmp(parts[first].s, rn, parts[first].n) == 0)
        first++;
    size_t left = count - first;
    if (left == 0) return 0;
    part last = parts[count - 1];
    if (starts_with(last.s, last.n, "to=")) {
        strip_to(&last.s, &last.n);
        if (set_str(&out->recipient, last.s, last.n) < 0) return -2;
        return left > 1 ? 1 : 0;
    }
    if (left == 1) return set_str(&out->recipient, last.s, last.n) < 0 ? -2 : 0;
    if (set_str(&out->content_type, last.s, last.n) < 0) return -2;
    part rec = parts[count - 2];
    strip_to(&rec.s, &rec.n);
    if (set_str(&out->recipient, rec.s, rec.n) < 0) return -2;
    return left > 2 ? 1 : 0;
}

/* <|message|> arrived: parse the header and start the content. */
static int header_complete(hm_parser *p)
{
    strbuf h, norm, msg, prefix;
    strbuf_init(&h);
    strbuf_init(&norm);
    strbuf_init(&msg);
    strbuf_init(&prefix);
    int rc = 0;
    header out;
    memset(&out, 0, sizeof out);
    part *parts = NULL;
    if (header_text(p, &h) < 0) {
        rc = -1;
        goto done;
    }
    const char *hs = h.data ? h.data : "";
    channel_span ch = find_channel(hs, h.len);
    if (ch.found && ch.value_end == ch.value_at) {
        rc = fail(p, "channel marker present but no channel value found in header");
        goto done;
    }
    if (ch.found && set_str(&out.channel, hs + ch.value_at, ch.value_end - ch.value_at) < 0) {
        rc = fail_oom(p);
        goto done;
    }
    size_t count = 0;
    if (normalise_header(hs, h.len, &ch, &norm) < 0 ||
        !(parts = split_parts(norm.data ? norm.data : "", norm.len, &count))) {
        rc = fail_oom(p);
        goto done;
    }
    const char *err = NULL;
    int assigned = assign_parts(p, parts, count, &out, &err);
    if (assigned == -2) {
        rc = fail_oom(p);
        goto done;
    }
    if (assigned == -1) {
        if (strcmp(err, "Unknown role") == 0)
            strbuf_printf(&msg, "Unknown role: %.*s", (int)parts[0].n, parts[0].s);
        else
            strbuf_append_str(&msg, err);
        rc = fail(p, msg.oom ? err : msg.data);
        goto done;
    }
    if (assigned == 1) {
        if (p->opts.strict) {
            rc = fail(p, "unexpected tokens remaining in message header");
            goto done;
        }
        /* Non-strict: keep the words as the start of the content. */
        hm_role ignored;
        free(out.recipient);
        free(out.content_type);
        out.recipient = out.content_type = NULL;
        if (recovery_text(p, hs, h.len, h.len, &prefix, &ignored) < 0) {
            rc = fail_oom(p);
            goto done;
        }
    }
    p->cur = out;
    memset(&out, 0, sizeof out);
    p->role_implied = 0;
    p->state = PS_CONTENT;
    strbuf_reset(&p->header_bytes);
    emit_start(p);
    if (prefix.len) rc = content_bytes(p, prefix.data, prefix.len);
done:
    strbuf_clear(&prefix);
    header_clear(&out);
    free(parts);
    strbuf_clear(&h);
    strbuf_clear(&norm);
    strbuf_clear(&msg);
    return rc;
}

/* Non-strict: the header ends without <|message|>. `term` is the terminator
 * (or HM_TERM_NONE / HM_TERM_EOS when abandoned). Emits the recovered message
 * when there is text to keep. */
static int header_recover(hm_parser *p, hm_terminator term)
{
    strbuf h, text;
    strbuf_init(&h);
    strbuf_init(&text);
    int rc = header_text(p, &h);
    if (rc < 0) goto done;
    const char *hs = h.data ? h.data : "";
    hm_role role;
    if (recovery_text(p, hs, h.len, h.len, &text, &role) < 0) {
        rc = fail_oom(p);
        goto done;
    }
    channel_span ch = find_channel(hs, h.len);
    int has_channel = ch.found && ch.value_end > ch.value_at;
    int keep;
    if (term == HM_TERM_NONE || term == HM_TERM_EOS)
        keep = !only_header_syntax(text.data ? text.data : "", text.len);
    else
        keep = has_channel || text.len > 0;
    p->role_implied = 0;
    strbuf_reset(&p->header_bytes);
    p->state = PS_EXPECT_START;
    if (!keep) goto done;
    header_clear(&p->cur);
    p->cur.role = role;
    if (has_channel && set_str(&p->cur.channel, hs + ch.value_at, ch.value_end - ch.value_at) < 0) {
        rc = fail_oom(p);
        goto done;
    }
    p->state = PS_CONTENT;
    emit_start(p);
    if (text.len && content_bytes(p, text.data, text.len) < 0) {
        rc = -1;
        goto done;
    }
    rc = end_message(p, term);
done:
    strbuf_clear(&h);
    strbuf_clear(&text);
    return rc;
}

/* Non-strict: a header longer than MAX_HEADER_BYTES is no header. It is
 * read as the start of a message's content (as a header closed by a
 * terminator would be), and the message stays open so the rest streams on.
 * Only the first MAX_HEADER_BYTES bytes are searched, so the result does not
 * depend on where the pieces were cut; the bytes pass through the UTF-8
 * stream, which holds a character cut at the end. */
static int header_overflow(hm_parser *p)
{
    const char *h = p->header_bytes.data;
    size_t n = p->header_bytes.len;
    strbuf text;
    strbuf_init(&text);
    hm_role role;
    int rc = 0;
    channel_span ch = find_channel(h, MAX_HEADER_BYTES);
    header_clear(&p->cur);
    if (recovery_text(p, h, n, MAX_HEADER_BYTES, &text, &role) < 0) {
        rc = fail_oom(p);
        goto done;
    }
    p->cur.role = role;
    if (ch.found && ch.value_end > ch.value_at) {
        strbuf value;
        strbuf_init(&value);
        hm_utf8_append_lossy(&value, h + ch.value_at, ch.value_end - ch.value_at);
        p->cur.channel = value.oom ? NULL : strbuf_take(&value, NULL);
        strbuf_clear(&value);
        if (!p->cur.channel) {
            rc = fail_oom(p);
            goto done;
        }
    }
    p->role_implied = 0;
    p->state = PS_CONTENT;
    emit_start(p);
    rc = content_bytes(p, text.data, text.len);
done:
    strbuf_reset(&p->header_bytes);
    strbuf_clear(&text);
    return rc;
}

/* ==== public API ========================================================================== */

hm_parser *hm_parser_new(const hm_parser_options *opts, hm_event_fn fn, void *ud)
{
    hm_parser *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    if (opts) p->opts = *opts;
    p->fn = fn;
    p->ud = ud;
    strbuf_init(&p->header_bytes);
    strbuf_init(&p->out);
    hm_utf8_stream_init(&p->utf8);
    p->role_implied = p->opts.role_hint_assistant;
    p->state = p->opts.role_hint_assistant ? PS_HEADER : PS_EXPECT_START;
    return p;
}

void hm_parser_free(hm_parser *p)
{
    if (!p) return;
    header_clear(&p->cur);
    strbuf_clear(&p->header_bytes);
    strbuf_clear(&p->out);
    hm_utf8_stream_clear(&p->utf8);
    free(p);
}

static void begin_header(hm_parser *p, int role_implied)
{
    strbuf_reset(&p->header_bytes);
    p->role_implied = role_implied;
    p->state = PS_HEADER;
}

static int header_piece(hm_parser *p, const char *text, size_t len, special_kind sk)
{
    if (sk == SK_MESSAGE) return header_complete(p);
    if (!p->opts.strict && (sk == SK_END || sk == SK_RETURN || sk == SK_CALL))
        return header_recover(p, terminator_of(sk));
    if (!p->opts.strict && sk == SK_START) {
        if (header_recover(p, HM_TERM_NONE) < 0) return -1;
        begin_header(p, 0);
        return 0;
    }
    if (strbuf_append(&p->header_bytes, text, len) < 0) return fail_oom(p);
    if (!p->opts.strict && p->header_bytes.len > MAX_HEADER_BYTES) return header_overflow(p);
    return 0;
}

int hm_parser_feed(hm_parser *p, const char *text, size_t len, int is_special, int32_t token_id)
{
    (void)token_id; /* specials are recognised by their spelling */
    if (!text) {
        text = "";
        len = 0;
    }
    special_kind sk = special_of(text, len, is_special);
    switch (p->state) {
    case PS_FAILED:
        return -1;
    case PS_EXPECT_START:
        if (sk == SK_START) {
            begin_header(p, 0);
            return 0;
        }
        if (p->opts.strict || !(p->opts.role_hint_assistant || p->n_messages > 0))
            return fail(p, "Unexpected token while expecting start token");
        if (sk == SK_EOT) return 0;
        begin_header(p, 1);
        return header_piece(p, text, len, sk);
    case PS_HEADER:
        return header_piece(p, text, len, sk);
    case PS_CONTENT:
        if (sk == SK_END || sk == SK_RETURN || sk == SK_CALL)
            return end_message(p, terminator_of(sk));
        return content_bytes(p, text, len);
    }
    return -1;
}

int hm_parser_finish(hm_parser *p)
{
    switch (p->state) {
    case PS_FAILED:
        return -1;
    case PS_EXPECT_START:
        return 0;
    case PS_HEADER:
        if (p->opts.strict)
            return fail(p, "Unexpected EOS while waiting for message header to complete");
        return header_recover(p, HM_TERM_EOS);
    case PS_CONTENT:
        return end_message(p, HM_TERM_EOS);
    }
    return -1;
}

const char *hm_parser_channel(const hm_parser *p)
{
    return p->state == PS_CONTENT ? p->cur.channel : NULL;
}
