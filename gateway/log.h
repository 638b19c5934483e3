/* log.h: the gateway's log lines on stderr.
 *
 * One line per call: "2026-11-26T05:00:00.123Z INFO  gateway: text". Safe from
 * any thread (one write per line). The level comes from FK_LOG_LEVEL. */
#ifndef FK_GATEWAY_LOG_H
#define FK_GATEWAY_LOG_H

#include <stdarg.h>

#include "driver.h"

/* Lines above `level` (an fk_log_level) are dropped. */
void fk_log_set_level(int level);
int fk_log_level(void);
/* "error" | "warn" | "info" | "debug" -> level, or -1. */
int fk_log_parse_level(const char *name);

/* `who` names the component ("gateway", a driver's name). */
void fk_logv(int level, const char *who, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
void fk_log(int level, const char *who, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* An INFO line printed whatever the level (the "listening on" line tests read). */
void fk_log_always(const char *who, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define fk_error(...) fk_log(FK_LOG_ERROR, "gateway", __VA_ARGS__)
#define fk_warn(...) fk_log(FK_LOG_WARN, "gateway", __VA_ARGS__)
#define fk_info(...) fk_log(FK_LOG_INFO, "gateway", __VA_ARGS__)
#define fk_debug(...) fk_log(FK_LOG_DEBUG, "gateway", __VA_ARGS__)

#endif
