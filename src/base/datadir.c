/* L0 base/datadir: the data files' folder, relative to the executable. See datadir.h. */
#include "base/datadir.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

static char data_dir[PATH_MAX];
static char lua_dir[PATH_MAX];
static char client_dir[PATH_MAX];
static char admin_ui_dir[PATH_MAX];

/* a/b into out; -1 when it doesn't fit (then out is not a path to use). */
static int path_join(char *out, size_t cap, const char *a, const char *b)
{
    int n = snprintf(out, cap, "%s/%s", a, b);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

static int has_lua_library(const char *data)
{
    char probe[PATH_MAX];
    return path_join(probe, sizeof probe, data, "lua/siolua") == 0 && access(probe, R_OK | X_OK) == 0;
}

/* The executable's folder, symlinks resolved: /usr/bin/siolua may be a link
 * into /opt/siolua/bin, whose ../share is the one that goes with it. */
static void exe_dir(char *out, size_t cap)
{
    char exe[PATH_MAX];
    size_t len = sizeof exe;
    char real[PATH_MAX];
    if (uv_exepath(exe, &len) != 0 || !realpath(exe, real)) {
        snprintf(out, cap, ".");
        return;
    }
    char *slash = strrchr(real, '/');
    if (slash && slash != real)
        *slash = '\0';
    snprintf(out, cap, "%s", real);
}

const char *sl_datadir(void)
{
    if (data_dir[0])
        return data_dir;
    char bin[PATH_MAX];
    exe_dir(bin, sizeof bin);
    char installed[PATH_MAX], build[PATH_MAX];
    if (path_join(installed, sizeof installed, bin, "../share/siolua"))
        snprintf(installed, sizeof installed, "/usr/share/siolua");
    if (path_join(build, sizeof build, bin, "share/siolua"))
        build[0] = '\0';
    const char *pick = has_lua_library(installed) ? installed : has_lua_library(build) ? build : installed;
    /* Shown in messages: without the "bin/.." when it resolves. */
    if (!realpath(pick, data_dir))
        memcpy(data_dir, pick, strlen(pick) + 1);
    return data_dir;
}

static const char *resolve(char *out, const char *env, const char *rel)
{
    if (out[0])
        return out;
    const char *v = getenv(env);
    if (v && *v)
        snprintf(out, PATH_MAX, "%s", v);
    else if (path_join(out, PATH_MAX, sl_datadir(), rel))
        snprintf(out, PATH_MAX, "/usr/share/siolua/%s", rel);
    return out;
}

const char *sl_datadir_lua(void) { return resolve(lua_dir, "SIOLUA_LUA_DIR", "lua"); }

const char *sl_datadir_client(void) { return resolve(client_dir, "SIOLUA_CLIENT_DIR", "client/dist"); }

const char *sl_datadir_admin_ui(void) { return resolve(admin_ui_dir, "SIOLUA_ADMIN_UI_DIR", "admin-ui"); }
