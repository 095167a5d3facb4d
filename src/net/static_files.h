/* L1 net/static_files: serves an app's public/ folder over L1 http: GET/HEAD,
 * content types, ETag/If-None-Match, "/" -> index.html, gzip or deflate
 * for text types as the request accepts (httpCompression), and no path
 * ever leaves the folder (.., %2e%2e, absolute paths, symlinks pointing
 * out). Knows nothing of Engine.IO or Socket.IO. */
#ifndef SL_STATIC_FILES_H
#define SL_STATIC_FILES_H

#include "net/http.h"

/* root must be an absolute, symlink-free path (realpath). Returns 1 when it
 * answered the request with a file (200/304), 0 when there is no such file
 * (the caller answers, usually 404). z: how to compress (NULL: never). */
int sl_static_serve(sl_http_req_t *req, const char *root, const sl_http_compress_t *z);
/* The same for path (starting with '/') instead of the request's own: a
 * folder served under a prefix, the prefix cut off by the caller. */
int sl_static_serve_at(sl_http_req_t *req, const char *root, const char *path,
                       const sl_http_compress_t *z);

/* Serves bytes held in memory with an ETag; for bundles read once. */
int sl_static_serve_bytes(sl_http_req_t *req, const char *content_type, const char *etag,
                          const char *data, size_t len, const sl_http_compress_t *z);

const char *sl_static_content_type(const char *path);

#endif
