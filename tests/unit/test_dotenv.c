/* test_dotenv.c: the .env parser: comments, export, quotes, escapes, errors
 * reported as FILE:LINE. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gateway/dotenv.h"
#include "tests/tap.h"

static const char *get(const fk_dotenv *d, const char *key)
{
    const fk_dotenv_entry *e = fk_dotenv_find(d, key);
    return e ? e->value : NULL;
}

static int parse(const char *text, fk_dotenv *d, char *err, size_t err_len)
{
    fk_dotenv_init(d);
    return fk_dotenv_parse(text, strlen(text), "t.env", d, err, err_len);
}

static void test_basics(void)
{
    fk_dotenv d;
    char err[256];
    const char *text = "# a comment\n"
                       "\n"
                       "   \t\n"
                       "FK_CORE_KIND=llama\n"
                       "export FK_LISTEN=127.0.0.1:9000\n"
                       "  SPACED  =  value with spaces   \n"
                       "WITH_COMMENT=abc # trailing comment\n"
                       "HASH_IN=abc#def\n"
                       "HASH_FIRST= #not-a-comment\n"
                       "EMPTY=\n"
                       "URL=http://x:8080/v1?a=b\n"
                       "CRLF=yes\r\n"
                       "DUP=1\n"
                       "DUP=2\n"
                       "LAST=no newline";
    is_int(parse(text, &d, err, sizeof err), 0, "basic file parses: %s", err);
    is_str(get(&d, "FK_CORE_KIND"), "llama", "plain value");
    is_str(get(&d, "FK_LISTEN"), "127.0.0.1:9000", "export prefix");
    is_str(get(&d, "SPACED"), "value with spaces", "blanks around key, '=' and value trimmed");
    is_str(get(&d, "WITH_COMMENT"), "abc", "' #' starts a comment");
    is_str(get(&d, "HASH_IN"), "abc#def", "'#' inside a word stays");
    is_str(get(&d, "HASH_FIRST"), "#not-a-comment", "a value may start with '#' (after blanks)");
    is_str(get(&d, "EMPTY"), "", "empty value");
    is_str(get(&d, "URL"), "http://x:8080/v1?a=b", "'=' and ':' in values");
    is_str(get(&d, "CRLF"), "yes", "CRLF line ending");
    is_str(get(&d, "DUP"), "2", "later key wins");
    is_str(get(&d, "LAST"), "no newline", "last line without newline");
    is_int(fk_dotenv_find(&d, "DUP")->line, 14, "line of the winning duplicate");
    is_int((long long)d.n, 11, "entries");
    fk_dotenv_free(&d);
}

static void test_quotes(void)
{
    fk_dotenv d;
    char err[256];
    const char *text = "S='single $HOME \\n # not a comment'\n"
                       "D=\"tab\\there\\nnewline \\\"q\\\" \\\\ \\$ \\'\"\n"
                       "D2=\"a # b\" # comment\n"
                       "ML=\"line1\n"
                       "line2\"\n"
                       "AFTER=1\n"
                       "EMPTYQ=\"\"\n"
                       "UNKNOWN_ESC=\"a\\qb\"\n"
                       "export Q='x'\n";
    is_int(parse(text, &d, err, sizeof err), 0, "quoted values parse: %s", err);
    is_str(get(&d, "S"), "single $HOME \\n # not a comment", "single quotes are literal");
    is_str(get(&d, "D"), "tab\there\nnewline \"q\" \\ $ '", "double-quote escapes");
    is_str(get(&d, "D2"), "a # b", "comment after a closing quote");
    is_str(get(&d, "ML"), "line1\nline2", "multi-line double-quoted value");
    is_int(fk_dotenv_find(&d, "AFTER")->line, 6, "line numbers continue after a multi-line value");
    is_str(get(&d, "EMPTYQ"), "", "empty quotes");
    is_str(get(&d, "UNKNOWN_ESC"), "a\\qb", "unknown escapes are kept");
    is_str(get(&d, "Q"), "x", "export with quotes");
    fk_dotenv_free(&d);
}

static void expect_error(const char *text, const char *want, const char *name)
{
    fk_dotenv d;
    char err[256] = "";
    int rc = parse(text, &d, err, sizeof err);
    ok(rc == -1 && strstr(err, want) != NULL, "%s: '%s'", name, err);
    if (!strstr(err, want)) diag("  want substring '%s'", want);
    fk_dotenv_free(&d);
}

static void test_errors(void)
{
    expect_error("A=1\nB\n", "t.env:2: B: expected '=' after the key", "missing '='");
    expect_error("A=1\n\n1BAD=x\n", "t.env:3: expected KEY=VALUE", "key starting with a digit");
    expect_error("A=1\nB C=2\n", "t.env:2: B: invalid character ' ' in a key",
                 "space inside a key");
    expect_error("FK_LISTEN 127.0.0.1:8001\n",
                 "t.env:1: FK_LISTEN: expected '=' after the key (a line is KEY=VALUE)",
                 "a line without '=' says so (not 'invalid character')");
    expect_error("hello world\n", "t.env:1: hello: expected '=' after the key", "prose, no '='");
    expect_error("A$B=1\n", "t.env:1: A: invalid character '$' in a key", "a character no key has");
    expect_error("A=\"open\nB=2\n", "t.env:1: unterminated double-quoted value",
                 "unterminated double quote");
    expect_error("\nA='open\n", "t.env:2: unterminated single-quoted value",
                 "unterminated single quote");
    expect_error("A=\"x\" y\n", "t.env:1: unexpected text after the closing quote",
                 "text after a quote");
    expect_error("A=1\n=2\n", "t.env:2: expected KEY=VALUE", "empty key");
    fk_dotenv d;
    char err[256] = "";
    fk_dotenv_init(&d);
    int rc = fk_dotenv_parse("A=1\nB=\0\n", 8, "t.env", &d, err, sizeof err);
    ok(rc == -1 && strstr(err, "t.env:2: NUL byte") != NULL, "NUL byte: '%s'", err);
    fk_dotenv_free(&d);
}

static void test_load(void)
{
    fk_dotenv d;
    char err[512];
    fk_dotenv_init(&d);
    is_int(fk_dotenv_load("/nonexistent/x.env", &d, err, sizeof err), -1, "missing file fails");
    ok(strstr(err, "/nonexistent/x.env: No such file") != NULL, "message names the file: %s", err);
    fk_dotenv_free(&d);
    char path[] = "/tmp/fk-dotenv-XXXXXX";
    int fd = mkstemp(path);
    require(fd >= 0, "a temporary file");
    FILE *f = fdopen(fd, "w");
    fputs("\xEF\xBB\xBFK=v\n", f);
    fclose(f);
    fk_dotenv_init(&d);
    is_int(fk_dotenv_load(path, &d, err, sizeof err), 0, "load a file with a BOM");
    is_str(get(&d, "K"), "v", "BOM skipped");
    fk_dotenv_free(&d);
    unlink(path);
}

int main(void)
{
    test_basics();
    test_quotes();
    test_errors();
    test_load();
    return done_testing();
}
