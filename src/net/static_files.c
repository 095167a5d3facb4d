/* L1 net/static_files: public/ folder over HTTP. See static_files.h. */
#include "net/static_files.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct {
    const char *ext;
    const char *type;
} content_types[] = {
    {"html", "text/html; charset=utf-8"},  {"htm", "text/html; charset=utf-8"},
    {"js", "application/javascript; charset=utf-8"},
    {"mjs", "application/javascript; charset=utf-8"},
    {"css", "text/css; charset=utf-8"},    {"json", "application/json; charset=utf-8"},
    {"map", "application/json; charset=utf-8"},
    {"txt", "text/plain; charset=utf-8"},  {"svg", "image/svg+xml"},
    {"png", "image/png"},                  {"jpg", "image/jpeg"},
    {"jpeg", "image/jpeg"},                {"gif", "image/gif"},
    {"ico", "image/x-icon"},               {"webp", "image/webp"},
    {"woff", "font/woff"},                 {"woff2", "font/woff2"},
    {"wasm", "application/wasm"},          {"xml", "application/xml"},
};

/* Types worth compressing: text. Images, fonts and archives are
 * compressed already. */
static int compressible(const char *type)
{
    return !strncmp(type, "text/", 5) || strstr(type, "javascript") || strstr(type, "json") ||
           strstr(type, "xml") || !strcmp(type, "application/wasm");
}

/* A 200 with the body, compressed when z, the type and the request allow
 * it. The answer varies with Accept-Encoding whenever it could be
 * compressed, so caches are told. */
static void respond_file(sl_http_req_t *req, const char *type, const char *data, size_t len,
                         const sl_http_compress_t *z)
{
    if (!z || !z->enabled || len < z->threshold || !compressible(type)) {
        sl_http_respond(req, 200, type, data, len);
        return;
    }
    sl_http_resp_header(req, "Vary", "Accept-Encoding");
    sl_http_respond_compressed(req, 200, type, data, len, z);
}

const char *sl_static_content_type(const char *path)
{
    const char *dot = strrchr(path, '.');
    const char *slash = strrchr(path, '/');
    if (dot && (!slash || dot > slash)) {
        for (size_t i = 0; i < sizeof content_types / sizeof content_types[0]; i++)
            if (!strcasecmp(dot + 1, content_types[i].ext))
                return content_types[i].type;
    }
    return "application/octet-stream";
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* %-decodes path into out and rejects anything that could name a file
 * outside the root: NUL bytes, backslashes, and ".." segments (checked
 * after decoding, so %2e%2e is caught too). */
static int decode_path(const char *path, char *out, size_t cap)
{
    size_t o = 0;
    for (const char *p = path; *p; p++) {
        int c = (unsigned char)*p;
        if (c == '%') {
            int h = hexval(p[1]), l = h >= 0 ? hexval(p[2]) : -1;
            if (h < 0 || l < 0)
                return -1;
            c = h * 16 + l;
            p += 2;
        }
        if (c == 0 || c == '\\')
            return -1;
        if (o + 1 >= cap)
            return -1;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    if (out[0] != '/')
        return -1;
    for (char *seg = out; *seg;) {
        while (*seg == '/')
            seg++;
        char *end = strchr(seg, '/');
        size_t len = end ? (size_t)(end - seg) : strlen(seg);
        if (len == 2 && seg[0] == '.' && seg[1] == '.')
            return -1;
        if (!end)
            break;
        seg = end;
    }
    return 0;
}

static void make_etag(char *out, size_t cap, const struct stat *st)
{
    snprintf(out, cap, "W/\"%llx-%llx\"", (unsigned long long)st->st_size,
             (unsigned long long)st->st_mtim.tv_sec * 1000 + (unsigned long long)st->st_mtim.tv_nsec / 1000000);
}

static int etag_matches(const sl_http_req_t *req, const char *etag)
{
    const char *inm = sl_http_header_get(req, "if-none-match");
    if (!inm)
        return 0;
    if (!strcmp(inm, "*"))
        return 1;
    /* A list of tags; compare weakly (W/ prefix ignored on both sides). */
    const char *e = etag[0] == 'W' ? etag + 2 : etag;
    size_t el = strlen(e);
    for (const char *p = inm; (p = strstr(p, e)); p += el)
        return 1;
    return 0;
}

int sl_static_serve_bytes(sl_http_req_t *req, const char *content_type, const char *etag,
                          const char *data, size_t len, const sl_http_compress_t *z)
{
    if (etag)
        sl_http_resp_header(req, "ETag", etag);
    if (etag && etag_matches(req, etag)) {
        sl_http_respond(req, 304, NULL, NULL, 0);
        return 1;
    }
    respond_file(req, content_type, data, len, z);
    return 1;
}

int sl_static_serve(sl_http_req_t *req, const char *root, const sl_http_compress_t *z)
{
    return sl_static_serve_at(req, root, req->path, z);
}

int sl_static_serve_at(sl_http_req_t *req, const char *root, const char *path,
                       const sl_http_compress_t *z)
{
    if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0)
        return 0;
    char rel[PATH_MAX], full[PATH_MAX * 2], real[PATH_MAX];
    if (path[0] != '/' || decode_path(path, rel, sizeof rel))
        return 0;
    size_t rl = strlen(rel);
    const char *suffix = rel[rl - 1] == '/' ? "index.html" : "";
    snprintf(full, sizeof full, "%s%s%s", root, rel, suffix);
    /* Resolve symlinks and check the result is still inside root. */
    if (!realpath(full, real))
        return 0;
    size_t rootl = strlen(root);
    if (strncmp(real, root, rootl) != 0 || (real[rootl] != '/' && real[rootl] != '\0'))
        return 0;
    struct stat st;
    if (stat(real, &st) || !S_ISREG(st.st_mode))
        return 0;
    char etag[64];
    make_etag(etag, sizeof etag, &st);
    sl_http_resp_header(req, "ETag", etag);
    sl_http_resp_header(req, "Cache-Control", "public, max-age=0");
    if (etag_matches(req, etag)) {
        sl_http_respond(req, 304, NULL, NULL, 0);
        return 1;
    }
    const char *type = sl_static_content_type(real);
    if (req->is_head) {
        /* Content-Length of the file, no body. */
        sl_http_respond(req, 200, type, NULL, (size_t)st.st_size);
        return 1;
    }
    int fd = open(real, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    char *data = malloc((size_t)st.st_size + 1);
    ssize_t got = 0;
    if (data) {
        while (got < st.st_size) {
            ssize_t r = read(fd, data + got, (size_t)(st.st_size - got));
            if (r <= 0)
                break;
            got += r;
        }
    }
    close(fd);
    if (!data || got != st.st_size) {
        free(data);
        sl_http_respond_text(req, 500, "read error");
        return 1;
    }
    respond_file(req, type, data, (size_t)got, z);
    free(data);
    return 1;
}
