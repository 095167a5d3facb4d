// The layer rule of STYLE.md, checked: a file may include headers of its
// own layer or below, never above. Layers (bottom up) are listed here; a
// new file must be placed in one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, basename } from 'node:path';

const SRC = join(process.env.SIOLUA_ROOT || join(import.meta.dirname, '..', '..'), 'src');

const LAYERS = [
  ['buf', 'log', 'watch', 'redis_url', 'local_bus', 'utf8'],        // L0 utilities
  ['conn', 'redis_uv', 'redis_link', 'redis_sub', 'local_bus_server'], // L0 connections
  ['ws_frame'],                                                      // L1 codec (no loop)
  ['http', 'ws', 'ws_client', 'proxy', 'static_files'],             // L1
  ['eio_packet', 'sio_packet', 'mpjson', 'sio_cluster'],            // L2/L4 codecs (no loop)
  ['eio'],                                                          // L3
  ['sio', 'sio_redis', 'server'],                                   // L5 + router
  ['lua_rt', 'lua_json', 'lua_crypto', 'lua_redis', 'lua_client', 'lua_sio'], // L6
  ['main', 'test_runner', 'emit_cmd', 'supervisor'],                // programs
];

const rank = new Map();
LAYERS.forEach((names, i) => names.forEach((n) => rank.set(n, i)));

test('every source file belongs to a layer', () => {
  const unknown = readdirSync(SRC).filter((f) => /\.[ch]$/.test(f))
    .map((f) => basename(f).replace(/\.[ch]$/, '')).filter((n) => !rank.has(n));
  assert.deepEqual([...new Set(unknown)], [], 'add these to LAYERS in layering.test.mjs');
});

test('no file includes a header of a higher layer', () => {
  const bad = [];
  for (const f of readdirSync(SRC).filter((x) => /\.[ch]$/.test(x))) {
    const self = f.replace(/\.[ch]$/, '');
    for (const m of readFileSync(join(SRC, f), 'utf8').matchAll(/#include "([a-z_]+)\.h"/g)) {
      const dep = m[1];
      if (rank.has(dep) && rank.get(dep) > rank.get(self)) bad.push(`${f} includes ${dep}.h`);
    }
  }
  assert.deepEqual(bad, []);
});
