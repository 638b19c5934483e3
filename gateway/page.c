/* page.c: the chat page: GET /, /app.js and /app.css from FK_WEB_DIR.
 *
 * Static files written once (gateway/web/, installed under
 * pkgdatadir/web), read from disk at each request so an installed page
 * can be edited in place. They are public: a browser that opens the page
 * cannot send a bearer token yet, and the files hold nothing secret; the
 * page asks for the key when /v1/models answers 401. The page talks only to
 * this origin, which its Content-Security-Policy enforces (no CORS needed). */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server.h"

#define FK_PAGE_MAX_BYTES (1 << 20) /* a page file larger than this is not served */

typedef struct page_file {
    const char *path;         /* the URL path */
    const char *file;         /* the file under FK_WEB_DIR */
    const char *content_type; /* its Content-Type */
} page_file;

static const page_file files[] = {
    {"/", "index.html", "text/html; charset=utf-8"},
    {"/app.js", "app.js", "text/javascript; charset=utf-8"},
    {"/app.css", "app.css", "text/css; charset=utf-8"},
};

/* What every page reply says about itself. */
static void page_headers(struct evhttp_request *req)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Security-Policy",
                      "default-src 'none'; script-src 'self'; style-src 'self'; "
                      "connect-src 'self'; img-src 'self' data:; base-uri 'none'; "
                      "form-action 'none'; frame-ancestors 'none'");
    evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
    evhttp_add_header(h, "Referrer-Policy", "no-referrer");
    evhttp_add_header(h, "Cache-Control", "no-cache");
}

void fk_handle_page(fk_gateway *gw, struct evhttp_request *req, const fk_req_info *info)
{
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    const page_file *pf = NULL;
    for (size_t i = 0; path && i < sizeof files / sizeof *files; i++)
        if (strcmp(path, files[i].path) == 0) pf = &files[i];
    const char *dir = gw->config->web_dir;
    fk_api_error e;
    if (!pf || !dir) { /* pf: the routes name only these paths */
        fk_api_error_set(&e, 404, "invalid_request_error", "unknown_url", NULL,
                         "no chat page here (FK_WEB_DIR=none)");
        fk_reply_error(gw, req, info->endpoint, &e);
        return;
    }
    char full[4096];
    snprintf(full, sizeof full, "%s/%s", dir, pf->file);
    int fd = open(full, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > FK_PAGE_MAX_BYTES) {
        int why = fd < 0 ? errno : 0;
        if (fd >= 0) close(fd);
        fk_api_error_set(&e, 404, "invalid_request_error", "page_not_installed", NULL,
                         "the chat page's %s is not installed in FK_WEB_DIR (%s): %s", pf->file,
                         dir, why ? strerror(why) : "not a regular file under 1 MiB");
        fk_reply_error(gw, req, info->endpoint, &e);
        return;
    }
    struct evbuffer *body = evbuffer_new();
    if (!body || evbuffer_add_file(body, fd, 0, st.st_size) != 0) { /* takes fd either way */
        if (body) evbuffer_free(body);
        fk_api_error_set(&e, 500, "server_error", NULL, NULL, "cannot read %s", pf->file);
        fk_reply_error(gw, req, info->endpoint, &e);
        return;
    }
    page_headers(req);
    fk_reply_buffer(gw, req, info->endpoint, 200, pf->content_type, body);
    evbuffer_free(body);
}
