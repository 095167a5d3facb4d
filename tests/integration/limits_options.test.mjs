// The limit options: a bad value is refused with the options table's own
// words, --help lists them, and sio.configure sets them like --set.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli, startServer, makeAppDir, request } from './lib/server.mjs';

const LIMITS = {
  requestTimeout: 'an integer of at least 1',
  maxHeadersCount: 'an integer from 1 to 100000',
  maxBufferedRequestBytes: 'an integer of at least 1',
  maxConnections: 'an integer of at least 0',
  maxSessions: 'an integer of at least 1',
  maxOutputBufferTotal: 'an integer of at least 0',
};

for (const [name, expected] of Object.entries(LIMITS)) {
  test(`--set ${name}=lots is refused: "bad value 'lots' for ${name}: expected ${expected}", exit 2`, async () => {
    const r = await runCli(['run', makeAppDir({ 'main.lua': '' }), '--set', `${name}=lots`]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, new RegExp(`bad value 'lots' for ${name}: expected ${expected}`));
  });
}

test('--help lists every limit with its default', async () => {
  const r = await runCli(['--help']);
  const out = r.stdout + r.stderr;
  for (const [name, def] of [['requestTimeout', '60000'], ['maxHeadersCount', '2000'],
    ['maxBufferedRequestBytes', '67108864'], ['maxConnections', '0'], ['maxSessions', '100000'],
    ['maxOutputBufferTotal', '268435456']]) {
    assert.match(out, new RegExp(`${name}\\s+\\S.*default ${def}\\n`), name);
  }
});

test('sio.configure sets the limits as --set does (maxSessions = 1: a second handshake gets 503)', async (t) => {
  const srv = await startServer({
    t,
    appDir: makeAppDir({ 'main.lua': 'local sio = require "siolua"\nsio.configure{ maxSessions = 1, maxOutputBufferTotal = 64 * 1024 * 1024 }\n' }),
    args: ['--no-reload'],
  });
  const url = `${srv.url}/socket.io/?EIO=4&transport=polling`;
  assert.equal((await request(url)).status, 200);
  assert.equal((await request(url)).status, 503);
  const { code } = await srv.stop();
  assert.equal(code, 0);
});

test('sio.configure with a bad limit fails at the line that called it', async () => {
  const r = await runCli(['run', makeAppDir({ 'main.lua': 'local sio = require "siolua"\nsio.configure{ maxConnections = -1 }\n' })]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /main\.lua:2: sio\.configure: bad value '-1' for maxConnections: expected an integer of at least 0/);
});
