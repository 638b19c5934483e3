/* log.c: timestamped log lines on stderr, one write(2) per line. */
#include "log.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static atomic_int log_level_ = FK_LOG_INFO; /* lines above this level are dropped */

void fk_log_set_level(int level)
{
    atomic_store(&log_level_, level);
}

int fk_log_level(void)
{
    return atomic_load(&log_level_);
}

int fk_log_parse_level(const char *name)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    for (int i = 0; i < 4; i++)
        if (strcasecmp(name, names[i]) == 0) return i;
    return -1;
}

__attribute__((format(printf, 3, 0))) static void write_line(int level, const char *who,
                                                             const char *fmt, va_list ap)
{
    static const char *const tags[] = {"ERROR", "WARN ", "INFO ", "DEBUG"};
    if (level < 0) level = 0;
    if (level > 3) level = 3;
    char line[4096];
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    int n = snprintf(line, sizeof line,
                     "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %s %s: ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     (int)(tv.tv_usec / 1000), tags[level], who);
    if (n < 0) return;
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    if (m < 0) m = 0;
    size_t len = (size_t)n + (size_t)m;
    if (len > sizeof line - 2) len = sizeof line - 2;
    line[len++] = '\n';
    /* One write per line keeps lines whole when threads log at once. */
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}

void fk_logv(int level, const char *who, const char *fmt, va_list ap)
{
    if (level > fk_log_level()) return;
    write_line(level, who, fmt, ap);
}

void fk_log_always(const char *who, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    write_line(FK_LOG_INFO, who, fmt, ap);
    va_end(ap);
}

void fk_log(int level, const char *who, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fk_logv(level, who, fmt, ap);
    va_end(ap);
}
