/* L7 cmd/cmd_emit: `siolua emit`, a command-line emitter: publishes one event to a
 * cluster through Redis the way @socket.io/redis-emitter does (uid
 * "emitter"), so every server sharing the Redis (siolua or Node) delivers
 * it. Knows Redis and the adapter's wire format, nothing of Lua. */
#ifndef SL_CMD_EMIT_H
#define SL_CMD_EMIT_H

int sl_emit_main(int argc, char **argv);

#endif
