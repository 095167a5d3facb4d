/* L7 cmd/main: the `siolua` executable: hands the command line to its command
 * (cmd_run.c, cmd_test.c, cmd_emit.c); --help and --version. */
#include <stdio.h>
#include <string.h>

#include "cmd/cmd_emit.h"
#include "cmd/cmd_run.h"
#include "cmd/cmd_test.h"

int main(int argc, char **argv)
{
    const char *cmd = argc > 1 ? argv[1] : NULL;
    if (!cmd) {
        fprintf(stderr, "siolua: missing command (see siolua --help)\n");
        return 2;
    }
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        sl_run_help(stdout);
        return 0;
    }
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "-v")) {
        printf("siolua %s\n", SIOLUA_VERSION);
        return 0;
    }
    if (!strcmp(cmd, "run"))
        return sl_run_main(argc, argv);
    if (!strcmp(cmd, "test"))
        return sl_test_main(argc, argv);
    if (!strcmp(cmd, "emit"))
        return sl_emit_main(argc, argv);
    fprintf(stderr, "siolua: unknown command '%s' (see siolua --help)\n", cmd);
    return 2;
}
