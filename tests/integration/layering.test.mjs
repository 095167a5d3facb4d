// The layer rule, checked against the one layer table (docs/architecture.md,
// the same table as shared/STYLE.md): every file of src/ sits in a folder of
// the table, its first line names its layer (one the folder allows) and its
// path, its folder's CMakeLists.txt lists it, and it includes only headers of
// its own layer or below, named by folder ("net/conn.h"); and only src/lua
// includes Lua's headers, even through a header of its own.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = process.env.SIOLUA_ROOT || join(import.meta.dirname, '..', '..');
const SRC = join(ROOT, 'src');

// The table: the fenced block whose header line starts with "folder".
// A row is "src/NAME  L<a>[-<b>]  ..."; continuation lines start with spaces.
function readTable(path) {
  const text = readFileSync(path, 'utf8');
  const block = text.split('```').find((b) => /^\s*folder\s+layer\b/m.test(b));
  assert.ok(block, `${path} has no layer table`);
  const rows = [];
  for (const line of block.split('\n')) {
    const m = /^src\/([a-z]+)\s+(L\d+a?)(?:-(\d+))?\s/.exec(line);
    if (m) rows.push({ folder: m[1], layers: m[3] ? [m[2], `L${m[3]}`] : [m[2]] });
  }
  return rows;
}

// L0 < L1 < ... < L5 < L5a < L6 < L7.
const rankOf = (tag) => Number(tag.slice(1).replace('a', '.5'));
// Every tag a folder allows: "L2-3" allows L2 and L3.
function allowed(row) {
  if (row.layers.length === 1) return row.layers;
  const [lo, hi] = row.layers.map(rankOf);
  return Array.from({ length: hi - lo + 1 }, (_, i) => `L${lo + i}`);
}

const TABLE = readTable(join(ROOT, 'docs', 'architecture.md'));
const FOLDERS = new Map(TABLE.map((r) => [r.folder, allowed(r)]));

function sources() {
  const out = [];
  for (const folder of readdirSync(SRC)) {
    for (const f of readdirSync(join(SRC, folder))) out.push({ folder, file: f, path: join(SRC, folder, f) });
  }
  return out;
}
const CODE = () => sources().filter((s) => /\.[ch]$/.test(s.file));

// The tag of one file: "/* L5a cluster/sio_redis: ..." -> L5a.
function tagOf(s) {
  const first = readFileSync(s.path, 'utf8').split('\n', 1)[0];
  const m = /^\/\* (L\d+a?) ([a-z]+)\/([a-z0-9_]+): /.exec(first);
  return m ? { layer: m[1], folder: m[2], name: m[3] } : null;
}

test('the table is the one of shared/STYLE.md', { skip: !existsSync(join(ROOT, '..', 'shared', 'STYLE.md')) }, () => {
  assert.deepEqual(readTable(join(ROOT, '..', 'shared', 'STYLE.md')), TABLE);
});

test('the table has the seven folders, bottom up', () => {
  assert.deepEqual(TABLE.map((r) => r.folder), ['base', 'net', 'eio', 'sio', 'cluster', 'lua', 'cmd']);
});

test('every folder of src/ is a row of the table and holds only sources', () => {
  const folders = readdirSync(SRC);
  assert.deepEqual(folders.filter((f) => !FOLDERS.has(f)), []);
  assert.deepEqual(sources().filter((s) => !/\.[ch]$/.test(s.file) && s.file !== 'CMakeLists.txt').map((s) => s.path), []);
});

test('every file names its layer and path on its first line, as its folder allows', () => {
  const bad = [];
  for (const s of CODE()) {
    const t = tagOf(s);
    const name = s.file.replace(/\.[ch]$/, '');
    if (!t) bad.push(`${s.folder}/${s.file}: no "/* L<n> ${s.folder}/${name}: " first line`);
    else if (t.folder !== s.folder || t.name !== name) bad.push(`${s.folder}/${s.file}: tag names ${t.folder}/${t.name}`);
    else if (!FOLDERS.get(s.folder).includes(t.layer)) bad.push(`${s.folder}/${s.file}: ${t.layer} is not a layer of src/${s.folder}`);
  }
  assert.deepEqual(bad, []);
});

test("every .c file is in its folder's CMakeLists.txt, and nothing else is", () => {
  const bad = [];
  for (const folder of FOLDERS.keys()) {
    const cm = join(SRC, folder, 'CMakeLists.txt');
    const listed = existsSync(cm) ? [...readFileSync(cm, 'utf8').matchAll(/^\s+([a-z0-9_]+\.c)\s*$/gm)].map((m) => m[1]).sort() : [];
    const present = readdirSync(join(SRC, folder)).filter((f) => f.endsWith('.c'))
      .filter((f) => f !== 'main.c').sort(); // main.c is the executable's, not the library's
    if (JSON.stringify(listed) !== JSON.stringify(present)) bad.push(`src/${folder}: lists ${listed} but holds ${present}`);
  }
  assert.deepEqual(bad, []);
});

test('no file includes a header of a higher layer, and includes name the folder', () => {
  const layerOf = new Map(CODE().map((s) => [`${s.folder}/${s.file}`, tagOf(s)?.layer]));
  const bad = [];
  for (const s of CODE()) {
    const own = rankOf(layerOf.get(`${s.folder}/${s.file}`) || 'L9');
    for (const m of readFileSync(s.path, 'utf8').matchAll(/#include "([^"]+)"/g)) {
      const dep = m[1];
      if (!layerOf.has(dep)) {
        bad.push(`${s.folder}/${s.file} includes "${dep}": not a src/ header named by folder`);
        continue;
      }
      if (rankOf(layerOf.get(dep)) > own) bad.push(`${s.folder}/${s.file} (${layerOf.get(`${s.folder}/${s.file}`)}) includes ${dep} (${layerOf.get(dep)})`);
    }
  }
  assert.deepEqual(bad, []);
});

// "src/lua: the only code that includes lua.h": no file outside src/lua
// includes Lua's headers, directly or through a src/ header it includes.
test('only src/lua includes lua.h, lauxlib.h or lualib.h, even through a header', () => {
  const LUA = /#include\s*<(?:lua5\.4\/)?(lua|lauxlib|lualib)\.h>/;
  const text = new Map(CODE().map((s) => [`${s.folder}/${s.file}`, readFileSync(s.path, 'utf8')]));
  const includes = (key) => [...(text.get(key) || '').matchAll(/#include "([^"]+)"/g)].map((m) => m[1]);
  const bad = [];
  for (const key of text.keys()) {
    if (key.startsWith('lua/')) continue;
    const seen = new Set([key]);
    const todo = [[key, []]];
    while (todo.length) {
      const [k, path] = todo.pop();
      if (LUA.test(text.get(k))) { bad.push([key, ...path].join(' -> ') + ` includes <${LUA.exec(text.get(k))[1]}.h>`); break; }
      for (const dep of includes(k)) {
        if (!seen.has(dep)) { seen.add(dep); todo.push([dep, [...path, dep]]); }
      }
    }
  }
  assert.deepEqual(bad, []);
});
