/* L0 base/datadir: where the files siolua ships beside its binary are (the
 * Lua library, the socket.io-client bundle and the Admin UI), found relative to the
 * running executable so that one build runs from its build tree and from
 * any install prefix. Knows no layer; nothing of the source tree is baked in.
 *
 *   installed:   PREFIX/bin/siolua    PREFIX/share/siolua/{lua,client,admin-ui}
 *   build tree:  BUILD/siolua         BUILD/share/siolua/{lua,client,admin-ui}
 *                                     (symlinks made by CMake into the source)
 *
 * client/ holds the socket.io-client npm package's dist/ and package.json;
 * admin-ui/ the built dashboard of the @socket.io/admin-ui npm package
 * (its ui/dist). */
#ifndef SL_DATADIR_H
#define SL_DATADIR_H

/* The folder holding the library's siolua/ modules: $SIOLUA_LUA_DIR when set, else
 * DATA/lua. Never NULL; the path may not exist (a broken install), in
 * which case loading the library says which path it tried. */
const char *sl_datadir_lua(void);

/* The folder holding socket.io.js and its siblings: $SIOLUA_CLIENT_DIR
 * when set, else DATA/client/dist. Never NULL; may not exist (built
 * without client/node_modules). */
const char *sl_datadir_client(void);

/* The folder holding the Admin UI's index.html and its assets:
 * $SIOLUA_ADMIN_UI_DIR when set, else DATA/admin-ui. Never NULL; may not
 * exist (built without admin-ui/node_modules). */
const char *sl_datadir_admin_ui(void);

/* DATA itself: PREFIX/share/siolua (or BUILD/share/siolua), the first of
 * the two layouts above that holds lua/siolua; the installed one when
 * neither does. Resolved once, on the first call. */
const char *sl_datadir(void);

#endif
