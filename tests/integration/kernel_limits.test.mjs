// Open file limits (docs/deploying.md, "Kernel and process limits"): the
// server raises its soft limit to the hard one at start (workers inherit
// it), and when every descriptor is in use, which libuv handles by closing
// new connections at once without a word, the log says so once, the
// connected clients go on, and new connections are served again once some
// end. Limits are set with util-linux's prlimit, as a unit's LimitNOFILE=.
// The sysctl file of the docs (docs/deploy/sysctl-siolua.conf) is applied
// in a network namespace of the test's own (its settings are all per
// namespace: the machine's stay as they are), where siolua's listener then
// gets the longer accept queue.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { startServer, request, until, SIOLUA_BIN, SIOLUA_ROOT } from './lib/server.mjs';
import { connected, closeClient } from './lib/sio.mjs';
import { parseMetrics, value } from './lib/prom.mjs';

const APP = join(SIOLUA_ROOT, 'tests', 'apps', 'echo');
const SYSCTL_FILE = join(SIOLUA_ROOT, 'docs', 'deploy', 'sysctl-siolua.conf');
// unshare -n needs root (or user namespaces): CI runs as root.
const CAN_UNSHARE = spawnSync('unshare', ['-n', 'true'], { stdio: 'ignore' }).status === 0;
const limited = (soft, hard) => ['prlimit', `--nofile=${soft}:${hard}`, SIOLUA_BIN];
const FULL = /every file descriptor is in use: this process may have (\d+) open files/;
const fullLines = (srv) => srv.stderr().split('\n').map((l) => FULL.exec(l)).filter(Boolean);

test('the soft open files limit is raised to the hard one at start, with one line; --workers pass it on', { timeout: 60000 }, async (t) => {
  const one = await startServer({ appDir: APP, t, args: ['--no-reload'], wrapper: limited(256, 4096) });
  assert.match(one.stderr(), /open files limit raised from 256 to 4096 \(the hard limit; one per connection\)/);
  const m = /^Max open files\s+(\d+)\s+(\d+)/m.exec(readFileSync(`/proc/${one.proc.pid}/limits`, 'utf8'));
  assert.deepEqual([m[1], m[2]], ['4096', '4096']);

  const workers = await startServer({
    appDir: APP, t, args: ['--no-reload', '--workers', '2', '--set', 'metrics=/metrics'], wrapper: limited(256, 4096),
  });
  assert.equal(workers.stderr().match(/open files limit raised/g).length, 1, 'the supervisor raises it, once');
  const fams = parseMetrics((await request(`${workers.url}/metrics`)).text);
  for (const worker of ['1', '2']) assert.equal(value(fams, 'process_max_fds', { worker }), 4096, `worker ${worker}`);

  // Soft and hard equal (LimitNOFILE=N): nothing to raise, nothing said.
  const same = await startServer({ appDir: APP, t, args: ['--no-reload'], wrapper: limited(2048, 2048) });
  assert.doesNotMatch(same.stderr(), /open files limit/);
});

test('out of descriptors: one warn line naming the limit; connected clients go on; new connections are served once some end', { timeout: 60000 }, async (t) => {
  const srv = await startServer({ appDir: APP, t, args: ['--no-reload'], wrapper: limited(64, 64) });
  const before = await connected(srv, '/', { t });
  const hogs = [];
  t.after(() => hogs.forEach((s) => s.destroy()));
  let closedAtOnce = 0;
  const burst = (n) => {
    for (let i = 0; i < n; i++) {
      const s = net.connect(srv.port, '127.0.0.1');
      s.on('error', () => {});
      s.on('close', () => { closedAtOnce++; });
      hogs.push(s);
    }
  };
  burst(100);
  assert.ok(await until(() => closedAtOnce > 0 && fullLines(srv).length > 0, { timeoutMs: 5000 }),
    `connections past the limit are closed and the log says so:\n${srv.stderr()}`);
  const lines = fullLines(srv);
  assert.equal(lines.length, 1);
  assert.equal(lines[0][1], '64');
  assert.equal(await before.timeout(3000).emitWithAck('echo', 'still here'), 'still here');
  // More of the same within a minute: not another line.
  const closedBefore = closedAtOnce;
  burst(30);
  await until(() => closedAtOnce >= closedBefore + 30, { timeoutMs: 5000 });
  assert.equal(fullLines(srv).length, 1, srv.stderr());

  for (const s of hogs.splice(0)) s.destroy();
  const after = await connected(srv, '/', { t, transports: ['polling', 'websocket'] });
  assert.equal(await after.timeout(3000).emitWithAck('echo', 'back'), 'back');
  closeClient(after);
  closeClient(before);
});

test('docs/deploy/sysctl-siolua.conf: the kernel takes every line; siolua listens with the accept queue it allows', { skip: CAN_UNSHARE ? false : 'unshare -n is not permitted here', timeout: 60000 }, async (t) => {
  const settings = readFileSync(SYSCTL_FILE, 'utf8').split('\n').filter((l) => l && !l.startsWith('#'))
    .map((l) => l.split('=').map((x) => x.trim()));
  assert.ok(settings.length >= 4);
  for (const [key] of settings) assert.match(key, /^net\./, `${key}: only per-namespace settings, which a test can apply`);
  const hostSomaxconn = readFileSync('/proc/sys/net/core/somaxconn', 'utf8');
  // siolua in a new network namespace where the file was applied first.
  const srv = await startServer({
    appDir: APP, t, args: ['--no-reload'],
    wrapper: ['unshare', '-n', 'sh', '-c', 'ip link set lo up && sysctl -q -p "$0" && exec "$@"', SYSCTL_FILE, SIOLUA_BIN],
  });
  const inside = (...cmd) => execFileSync('nsenter', ['-t', String(srv.proc.pid), '-n', ...cmd], { encoding: 'utf8' });
  for (const [key, want] of settings) {
    assert.equal(inside('sysctl', '-n', key).trim().split(/\s+/).join(' '), want, key);
  }
  // Send-Q of a listening socket is its accept queue's length.
  const listeners = inside('ss', '-ltnH').trim().split('\n').map((l) => l.trim().split(/\s+/));
  const mine = listeners.find((f) => f[3].endsWith(`:${srv.port}`));
  assert.ok(mine, inside('ss', '-ltn'));
  const somaxconn = settings.find(([k]) => k === 'net.core.somaxconn')[1];
  assert.equal(mine[2], somaxconn);
  assert.equal(readFileSync('/proc/sys/net/core/somaxconn', 'utf8'), hostSomaxconn, 'the machine\'s own is as it was');
});
