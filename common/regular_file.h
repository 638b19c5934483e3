/* regular_file.h: the one rule for opening a configuration file to read: it
 * must be a regular file. A FIFO given as the .env or a model's config.json
 * would block start-up or a load forever (opening a FIFO waits for a
 * writer), and a device or directory is never meant. The file is opened
 * without blocking, checked, then read normally. (Tokenizer files may be
 * streamed through a FIFO: tests hold a load with one.) Header-only for the
 * reason common/utf8.h gives. */
#ifndef FK_COMMON_REGULAR_FILE_H
#define FK_COMMON_REGULAR_FILE_H

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* What a non-regular file is, for messages. */
static inline const char *fk_file_kind(mode_t m)
{
    return S_ISFIFO(m)                ? "a FIFO"
           : S_ISDIR(m)               ? "a directory"
           : S_ISCHR(m) || S_ISBLK(m) ? "a device"
           : S_ISSOCK(m)              ? "a socket"
                                      : "something else";
}

/* fopen(path, "rb") when path is a regular file. NULL otherwise, with errno
 * set (ENOENT for a missing file, EINVAL for one that is not regular) and
 * `why` holding the reason without the path ("No such file or directory",
 * "a FIFO, not a regular file"). */
static inline FILE *fk_fopen_regular(const char *path, char *why, size_t why_len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        int e = errno;
        snprintf(why, why_len, "%s", strerror(e));
        errno = e;
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        snprintf(why, why_len, "%s", strerror(e));
        errno = e;
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        snprintf(why, why_len, "%s, not a regular file", fk_file_kind(st.st_mode));
        errno = EINVAL;
        return NULL;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0) fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        int e = errno;
        close(fd);
        snprintf(why, why_len, "%s", strerror(e));
        errno = e;
    }
    return f;
}

#endif
