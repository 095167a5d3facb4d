// Memory: the server under valgrind through a connect / emit / broadcast /
// binary / disconnect cycle on both transports, then SIGTERM: no leak, no
// invalid access. Skipped on the sanitizer build (ASan and valgrind don't
// mix; that build checks leaks with LeakSanitizer instead).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { startServer } from './lib/server.mjs';
import { connected, ask, nextEvent, closeClient } from './lib/sio.mjs';
import { openRawWs, wsUrl, clientFrame, closeCode } from './lib/eio.mjs';
import { textOf, deflated, pollWelcome } from './lib/compress.mjs';

const ROOT = process.env.SIOLUA_ROOT || join(import.meta.dirname, '..', '..');
const BIN = process.env.SIOLUA_BIN || join(ROOT, 'build', 'siolua');

function hasValgrind() {
  try { execFileSync('valgrind', ['--version']); return true; } catch { return false; }
}

const skip = process.env.SIOLUA_SANITIZE === '1' ? 'sanitizer build' : !hasValgrind() ? 'no valgrind' : false;

test('a connect/emit/disconnect cycle under valgrind leaks nothing and exits 0', { skip, timeout: 120000 }, async () => {
  const srv = await startServer({
    appDir: join(ROOT, 'tests', 'apps', 'echo'),
    args: ['--no-reload'],
    timeoutMs: 60000,
    wrapper: ['valgrind', '--leak-check=full', '--show-leak-kinds=definite,indirect,possible',
      '--errors-for-leak-kinds=definite,indirect,possible', '--error-exitcode=99', BIN],
  });
  for (const transports of [['websocket'], ['polling'], ['polling', 'websocket']]) {
    const a = await connected(srv, '/', { transports, timeoutMs: 20000 });
    const b = await connected(srv, '/', { transports, timeoutMs: 20000 });
    assert.deepEqual(await ask(a, 'echo', 1, 'two', { three: [true, null] }, Buffer.from([1, 2, 3])),
      [1, 'two', { three: [true, null] }, Buffer.from([1, 2, 3])]);
    const heard = nextEvent(b, 'shout');
    a.emit('shout', 'hello');
    assert.deepEqual(await heard, ['hello']);
    closeClient(a);
    closeClient(b);
  }
  const { code } = await srv.stop();
  const log = srv.stderr();
  assert.equal(code, 0, `valgrind reported problems:\n${log.split('\n').filter((l) => l.startsWith('==')).slice(-40).join('\n')}`);
  assert.match(log, /ERROR SUMMARY: 0 errors/);
});

test('compression under valgrind: per-connection and shared zlib streams, gzip polling, a zip bomb; nothing leaks', { skip, timeout: 120000 }, async () => {
  const srv = await startServer({
    appDir: join(ROOT, 'tests', 'apps', 'compress'),
    args: ['--no-reload', '--set', 'perMessageDeflate=true', '--set', 'maxHttpBufferSize=100000'],
    timeoutMs: 60000,
    wrapper: ['valgrind', '--leak-check=full', '--show-leak-kinds=definite,indirect,possible',
      '--errors-for-leak-kinds=definite,indirect,possible', '--error-exitcode=99', BIN],
  });
  const a = await connected(srv, '/', { transports: ['websocket'], timeoutMs: 20000 });
  const b = await connected(srv, '/', { transports: ['websocket'], timeoutMs: 20000 });
  const text = textOf(20000);
  assert.deepEqual(await ask(a, 'echo', text, Buffer.from(text)), [text, Buffer.from(text)]);
  const heard = nextEvent(b, 'shout', 20000);
  a.emit('shout', text);
  assert.deepEqual(await heard, [text]);
  // Pooled streams both ways, and a zip bomb.
  const url = wsUrl(srv, {}, '/socket.io/');
  const c = await openRawWs(url, { perMessageDeflate: { serverNoContextTakeover: true, clientNoContextTakeover: true }, timeoutMs: 20000 });
  await c.waitFrames(1, 20000);
  c.ws.send('40' + 'x'.repeat(3000));
  const d = await openRawWs(url, { perMessageDeflate: true, timeoutMs: 20000 });
  await d.waitFrames(1, 20000);
  d.ws._socket.write(clientFrame(deflated('4' + 'a'.repeat(2_000_000)), { rsv: 4 }));
  assert.equal(await closeCode(d, 20000), 1009);
  const r = await pollWelcome(srv.url, 'gzip, deflate');
  assert.equal(r.poll.headers['content-encoding'], 'gzip');
  closeClient(a);
  closeClient(b);
  c.ws.terminate();
  const { code } = await srv.stop();
  const log = srv.stderr();
  assert.equal(code, 0, `valgrind reported problems:\n${log.split('\n').filter((l) => l.startsWith('==')).slice(-40).join('\n')}`);
  assert.match(log, /ERROR SUMMARY: 0 errors/);
});
