/* dotenv.h: the .env file format, parser only.
 *
 *   # comment                     blank lines and comment lines are skipped
 *   export KEY=value              "export " is optional
 *   KEY=value # comment           unquoted: trailing " #..." and blanks dropped
 *   KEY='literal $ \ text'        single quotes: no escapes; may span lines
 *   KEY="a\tb\n\"c\""             double quotes: \n \t \r \\ \" \$ \' escapes
 *
 * No variable expansion. A later KEY overrides an earlier one. Errors are
 * reported as "FILE:LINE: why". */
#ifndef FK_GATEWAY_DOTENV_H
#define FK_GATEWAY_DOTENV_H

#include <stddef.h>

typedef struct fk_dotenv_entry {
    char *key;   /* owned */
    char *value; /* owned, NUL-terminated (may hold newlines) */
    int line;    /* 1-based line where the entry starts */
} fk_dotenv_entry;

typedef struct fk_dotenv {
    fk_dotenv_entry *v; /* entries in file order, duplicates already merged */
    size_t n;           /* entries used */
    size_t cap;         /* entries allocated */
} fk_dotenv;

void fk_dotenv_init(fk_dotenv *d);
void fk_dotenv_free(fk_dotenv *d);
/* Parse buf[0..len) (need not be NUL-terminated). 0, or -1 with
 * "FNAME:LINE: why" in err. On error `out` holds what was parsed before. */
int fk_dotenv_parse(const char *buf, size_t len, const char *fname, fk_dotenv *out, char *err,
                    size_t err_len);
/* Read and parse a file. -1 with err ("FILE: No such file...") on failure. */
int fk_dotenv_load(const char *path, fk_dotenv *out, char *err, size_t err_len);
/* dst = a deep copy of src (dst need not be initialised). 0, or -1 on OOM
 * (dst then empty). */
int fk_dotenv_copy(fk_dotenv *dst, const fk_dotenv *src);
/* The entry for key, or NULL. */
const fk_dotenv_entry *fk_dotenv_find(const fk_dotenv *d, const char *key);

#endif
