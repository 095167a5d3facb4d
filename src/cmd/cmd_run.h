/* L7 cmd/cmd_run: the `siolua run APP_DIR` command: serves the app, alone, as
 * a member of a cluster (--redis), or as the supervisor of --workers N. */
#ifndef SL_CMD_RUN_H
#define SL_CMD_RUN_H

#include <stdio.h>

/* argv[1] is "run". Returns the exit status: 0 after a graceful stop, 1
 * when the server could not start, 2 on a usage error. */
int sl_run_main(int argc, char **argv);
/* `siolua --help`: the commands, run's flags and every server option. */
void sl_run_help(FILE *out);

#endif
