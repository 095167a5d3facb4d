// A stand-in for systemd's side of sd_notify(3): a unix datagram socket
// (what NOTIFY_SOCKET names) that records every message with the PID of its
// sender (SO_PASSCRED, as systemd checks NotifyAccess=main). Node has no
// unix datagram sockets, so a few lines of python3 hold it and print one
// JSON line per message. Closed when the test ends.
//
//   const sink = await startNotifySink(t);
//   env: { NOTIFY_SOCKET: sink.path }; sink.messages: [{pid, text, at}]
//   await sink.waitFor((m) => m.text.includes('READY=1'))

import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { makeTempDir, until } from './server.mjs';

const PY = `
import json, socket, struct, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
s.bind(sys.argv[1])
print(json.dumps({"bound": True}), flush=True)
while True:
    data, anc, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(12))
    pid = 0
    for level, kind, cred in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            pid = struct.unpack("iII", cred[:12])[0]
    print(json.dumps({"pid": pid, "text": data.decode("utf-8", "replace"), "at": time.time()}), flush=True)
`;

export async function startNotifySink(t) {
  const dir = makeTempDir('siolua-notify-');
  const path = join(dir, 'notify.sock');
  const proc = spawn('python3', ['-c', PY, path], { stdio: ['ignore', 'pipe', 'inherit'] });
  const messages = [];
  let bound = false;
  let buf = '';
  proc.stdout.setEncoding('utf8').on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const m = JSON.parse(buf.slice(0, i));
      buf = buf.slice(i + 1);
      if (m.bound) bound = true;
      else messages.push(m);
    }
  });
  if (t) t.after(() => proc.kill('SIGKILL'));
  if (!(await until(() => bound, { timeoutMs: 5000 }))) throw new Error('the notify socket did not come up');
  return {
    path,
    messages,
    // Resolves with the first message from index `from` on that pred holds for.
    async waitFor(pred, { from = 0, timeoutMs = 5000 } = {}) {
      const found = await until(() => messages.slice(from).find(pred), { timeoutMs });
      if (!found) throw new Error(`no such notification within ${timeoutMs} ms; got ${JSON.stringify(messages)}`);
      return found;
    },
  };
}
