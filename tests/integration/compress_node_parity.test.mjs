// Node's socket.io 4.8 (tests/node_modules, engine.io 6.6 on ws 8) and
// siolua, started with the same compression options, get the same raw
// requests and must answer them the same way: the same
// Sec-WebSocket-Extensions in the 101 (or the same 400 and words) for each
// permessage-deflate offer, and the same Content-Encoding for each
// Accept-Encoding on long-polling. A mixed fleet behind one load balancer
// then looks like one server to every client.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { startApp, stopProblems } from './lib/sio.mjs';
import { SIOLUA_ROOT } from './lib/server.mjs';
import { pollWelcome, rawUpgrade } from './lib/compress.mjs';

const started = [];
after(() => Promise.all(started.map((p) => (p.kill ? p.kill() : p.stop()))));

function startNode(options) {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [join(SIOLUA_ROOT, 'tests', 'integration', 'lib', 'node-compress-server.cjs'),
      JSON.stringify(options)], { cwd: join(SIOLUA_ROOT, 'tests'), stdio: ['ignore', 'pipe', 'inherit'] });
    started.push(proc);
    let out = '';
    const timer = setTimeout(() => reject(new Error('node socket.io did not start')), 10000);
    proc.stdout.on('data', (d) => {
      out += d;
      const m = /listening (\d+)/.exec(out);
      if (m) { clearTimeout(timer); resolve({ port: Number(m[1]), url: `http://127.0.0.1:${m[1]}` }); }
    });
    proc.on('exit', (code) => reject(new Error(`node socket.io exited ${code}`)));
  });
}

async function startBoth(nodeOptions, sets) {
  const node = await startNode(nodeOptions);
  const ours = await startApp('compress', { args: ['--no-reload', ...sets.flatMap((s) => ['--set', s])] });
  started.push(ours);
  return { node, ours };
}

// Each Node option object with the --set lines that say the same.
const CONFIGS = [
  [{ perMessageDeflate: true }, ['perMessageDeflate=true']],
  [{ perMessageDeflate: { serverNoContextTakeover: true, clientNoContextTakeover: true } },
    ['perMessageDeflate.serverNoContextTakeover=true', 'perMessageDeflate.clientNoContextTakeover=true']],
  [{ perMessageDeflate: { serverMaxWindowBits: 10, clientMaxWindowBits: 12 } },
    ['perMessageDeflate.serverMaxWindowBits=10', 'perMessageDeflate.clientMaxWindowBits=12']],
  [{ perMessageDeflate: { serverNoContextTakeover: false, serverMaxWindowBits: false, clientMaxWindowBits: false } },
    ['perMessageDeflate.serverNoContextTakeover=false', 'perMessageDeflate.serverMaxWindowBits=false',
      'perMessageDeflate.clientMaxWindowBits=false']],
  [{}, []],
];

const OFFERS = [
  undefined,
  'permessage-deflate',
  'permessage-deflate; client_max_window_bits', // Node's ws and Chromium
  'permessage-deflate; client_max_window_bits=10',
  'permessage-deflate; client_max_window_bits=13',
  'permessage-deflate; server_no_context_takeover',
  'permessage-deflate; client_no_context_takeover',
  'permessage-deflate; server_max_window_bits=9',
  'permessage-deflate; server_max_window_bits=12; client_max_window_bits',
  'permessage-deflate; server_max_window_bits=9, permessage-deflate; client_max_window_bits',
  'permessage-deflate; client_no_context_takeover; server_no_context_takeover; server_max_window_bits=15; client_max_window_bits=15',
  'permessage-deflate; client_max_window_bits="10"',
  'permessage-deflate; client_max_window_bits=0x0c',
  'permessage-deflate; client_max_window_bits=7',
  'permessage-deflate; server_max_window_bits',
  'permessage-deflate; foo',
  'permessage-deflate; client_no_context_takeover; client_no_context_takeover',
  'permessage-deflate;;',
  'permessage-deflate, ',
  'x-webkit-deflate-frame',
  'x-webkit-deflate-frame; no_context_takeover, permessage-deflate',
  'foo; a="b c"',
  '',
];

for (const [nodeOptions, sets] of CONFIGS) {
  test(`WebSocket offers under ${JSON.stringify(nodeOptions)}: the same 101 extensions or the same 400`, async () => {
    const { node, ours } = await startBoth(nodeOptions, sets);
    for (const offer of OFFERS) {
      const a = await rawUpgrade(node.port, '/socket.io/', offer);
      const b = await rawUpgrade(ours.port, '/socket.io/', offer);
      assert.deepEqual(b, a, `offer ${JSON.stringify(offer)}`);
    }
    assert.deepEqual(await stopProblems(ours), []);
  });
}

const ACCEPTS = [undefined, '', 'gzip', 'deflate', 'gzip, deflate', 'deflate, gzip', 'gzip, deflate, br, zstd', 'br',
  'identity', '*', 'gzip;q=0.5, deflate', 'deflate;q=0.5, *', 'gzip;q=0, deflate;q=0', 'GZIP', 'x-gzip',
  '*;q=0.5, deflate;q=0.5', 'gzip;q=abc, deflate', 'gzip deflate'];

for (const [nodeOptions, sets] of [[{}, []], [{ httpCompression: false }, ['httpCompression=false']],
  [{ httpCompression: { threshold: 5000 } }, ['httpCompression.threshold=5000']]]) {
  test(`long-polling under ${JSON.stringify(nodeOptions)}: the same Content-Encoding for each Accept-Encoding`, async () => {
    const { node, ours } = await startBoth(nodeOptions, sets);
    for (const ae of ACCEPTS) {
      const a = await pollWelcome(node.url, ae);
      const b = await pollWelcome(ours.url, ae);
      const what = (r) => [r.handshake.headers['content-encoding'], r.poll.headers['content-encoding']];
      assert.deepEqual(what(b), what(a), `Accept-Encoding ${JSON.stringify(ae)}`);
      assert.match(a.body, /42\["welcome","x{3000}"\]/);
      assert.match(b.body, /42\["welcome","x{3000}"\]/);
    }
    assert.deepEqual(await stopProblems(ours), []);
  });
}
