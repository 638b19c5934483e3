/* tap.h: a minimal TAP producer for C unit tests run by Automake's tap-driver.
 *
 *   ok(cond, "name %d", i)      one test point; returns cond
 *   is_int(got, want, "name")   integer equality, prints both on failure
 *   is_str(got, want, "name")   string equality (NULL-safe), prints both on failure
 *   diag("fmt", ...)            a "# ..." comment line
 *   require(cond, "what %d", i) a precondition (setup: a fixture, a temp file,
 *                               the test's own input), not a test point: when
 *                               it fails the test stops with "Bail out!" and fails
 *   return done_testing();      prints the plan "1..N"; exit status 1 if any failed
 *
 * Header-only: every test program includes it once. */
#ifndef FK_TAP_H
#define FK_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_count_;  /* test points emitted so far */
static int tap_failed_; /* test points that failed */

static void tap_vline_(int pass, const char *fmt, va_list ap)
{
    tap_count_++;
    if (!pass) tap_failed_++;
    printf("%s %d - ", pass ? "ok" : "not ok", tap_count_);
    vprintf(fmt, ap);
    putchar('\n');
    fflush(stdout);
}

__attribute__((format(printf, 2, 3), unused)) static int ok(int pass, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    tap_vline_(pass, fmt, ap);
    va_end(ap);
    return pass;
}

__attribute__((format(printf, 1, 2), unused)) static void diag(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("# ", stdout);
    vprintf(fmt, ap);
    putchar('\n');
    va_end(ap);
    fflush(stdout);
}

__attribute__((format(printf, 3, 4), unused)) static int is_int(long long got, long long want,
                                                                const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    tap_vline_(got == want, fmt, ap);
    va_end(ap);
    if (got != want) diag("  got %lld, want %lld", got, want);
    return got == want;
}

__attribute__((format(printf, 3, 4), unused)) static int is_str(const char *got, const char *want,
                                                                const char *fmt, ...)
{
    int pass = (got == NULL && want == NULL) || (got && want && strcmp(got, want) == 0);
    va_list ap;
    va_start(ap, fmt);
    tap_vline_(pass, fmt, ap);
    va_end(ap);
    if (!pass) diag("  got \"%s\"\n#   want \"%s\"", got ? got : "(null)", want ? want : "(null)");
    return pass;
}

/* A precondition: nothing is counted when it holds; when it does not, the
 * whole test fails at once (TAP "Bail out!", exit status 1), so a broken
 * setup can neither pass nor inflate the count of checks. */
__attribute__((format(printf, 2, 3), unused)) static void require(int pass, const char *fmt, ...)
{
    if (pass) return;
    va_list ap;
    va_start(ap, fmt);
    fputs("Bail out! precondition failed: ", stdout);
    vprintf(fmt, ap);
    putchar('\n');
    va_end(ap);
    fflush(stdout);
    exit(1);
}

__attribute__((unused)) static int done_testing(void)
{
    printf("1..%d\n", tap_count_);
    return tap_failed_ ? 1 : 0;
}

#endif
