// Install anywhere and the Debian package: `cmake --install BUILD --prefix P`
// gives a tree that runs from wherever it is moved (the binary finds
// P/share/siolua relative to itself; nothing of the source tree is baked in
// or read), `cpack -G DEB` packs the same tree with its library
// dependencies and the systemd unit, and the unit passes systemd-analyze.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, readFileSync, readdirSync, readlinkSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { io } from 'socket.io-client';
import { startServer, makeTempDir, request, SIOLUA_BIN, SIOLUA_ROOT } from './lib/server.mjs';

const BUILD = dirname(SIOLUA_BIN);
// ASan/UBSan metadata names every source by its full path, whatever
// -ffile-prefix-map says: the release build is the one checked for that.
const SANITIZED = process.env.SIOLUA_SANITIZE === '1';
const noSourcePath = (bin) => SANITIZED || !bin.includes(SIOLUA_ROOT);
const has = (cmd, args = ['--version']) => spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;

// The installed tree, moved after installing: only what is relative to the
// binary can be found.
function installMoved({ move = true } = {}) {
  const tmp = makeTempDir('siolua-install-');
  execFileSync('cmake', ['--install', BUILD, '--prefix', join(tmp, 'p')], { stdio: 'pipe' });
  if (!move) return { tmp, prefix: join(tmp, 'p') };
  renameSync(join(tmp, 'p'), join(tmp, 'moved'));
  return { tmp, prefix: join(tmp, 'moved') };
}

// Env with nothing pointing at the source tree.
function cleanEnv() {
  const env = { ...process.env };
  for (const k of ['SIOLUA_ROOT', 'SIOLUA_LUA_DIR', 'SIOLUA_CLIENT_DIR', 'SIOLUA_BIN']) delete env[k];
  return env;
}

test('cmake --install: the binary, the Lua library, the client bundle, the unit; no source path inside', async () => {
  const { prefix } = installMoved();
  for (const f of ['bin/siolua', 'share/siolua/lua/siolua/api.lua', 'share/siolua/client/dist/socket.io.js',
    'share/siolua/client/dist/socket.io.min.js', 'share/siolua/client/package.json',
    'share/siolua/examples/chat/main.lua', 'share/doc/siolua/deploying.md', 'lib/systemd/system/siolua@.service',
    'share/doc/siolua/deploy/nginx-siolua.conf', 'share/doc/siolua/deploy/haproxy-siolua.cfg',
    'share/doc/siolua/deploy/prometheus-siolua.yml', 'share/doc/siolua/deploy/sysctl-siolua.conf']) {
    assert.ok(existsSync(join(prefix, f)), `${f} installed`);
  }
  const bin = readFileSync(join(prefix, 'bin/siolua'));
  assert.ok(noSourcePath(bin), `the binary holds no '${SIOLUA_ROOT}' (strings, debug info, __FILE__)`);
  const v = execFileSync(join(prefix, 'bin/siolua'), ['--version'], { env: cleanEnv() }).toString();
  assert.match(v, /^siolua \d+\.\d+\.\d+\n$/);
  const unit = readFileSync(join(prefix, 'lib/systemd/system/siolua@.service'), 'utf8');
  assert.match(unit, /^ExecStart=\S+\/p\/bin\/siolua run \/srv\/siolua\/%i /m, 'ExecStart names the install prefix');
});

test('the installed binary, moved, run from elsewhere, serves a copy of apps/chat and socket.io.js; no file of the source tree is open or mapped', async (t) => {
  const { tmp, prefix } = installMoved();
  const app = join(tmp, 'chat');
  cpSync(join(SIOLUA_ROOT, 'apps', 'chat'), app, { recursive: true });
  const cwd = makeTempDir('siolua-cwd-');
  const srv = await startServer({ appDir: app, t, wrapper: [join(prefix, 'bin/siolua')], args: ['--no-reload'],
    cwd, env: cleanEnv(), replaceEnv: true });
  const c = io(`${srv.url}/chat`, { forceNew: true, reconnection: false, transports: ['polling', 'websocket'] });
  t.after(() => c.close());
  await new Promise((resolve, reject) => { c.on('connect', resolve); c.on('connect_error', reject); });
  const js = await request(`${srv.url}/socket.io/socket.io.js`);
  assert.equal(js.status, 200);
  assert.deepEqual(js.body, readFileSync(join(SIOLUA_ROOT, 'client/node_modules/socket.io-client/dist/socket.io.js')));
  const pid = srv.proc.pid;
  const maps = readFileSync(`/proc/${pid}/maps`, 'utf8');
  assert.ok(!maps.includes(SIOLUA_ROOT), 'nothing of the source tree is mapped');
  const fds = readdirSync(`/proc/${pid}/fd`).map((fd) => { try { return readlinkSync(`/proc/${pid}/fd/${fd}`); } catch { return ''; } });
  assert.ok(!fds.some((p) => p.startsWith(SIOLUA_ROOT)), `no open file of the source tree: ${fds.join(' ')}`);
  assert.equal(readlinkSync(`/proc/${pid}/cwd`), cwd);
  assert.doesNotMatch(srv.stderr(), /not served|not found|error/);
  c.close();
  assert.equal((await srv.stop()).code, 0);
});

test('an install without the client bundle says at start, once, that socket.io.js is not served and why', async (t) => {
  const { prefix } = installMoved();
  rmSync(join(prefix, 'share/siolua/client'), { recursive: true });
  const srv = await startServer({ t, wrapper: [join(prefix, 'bin/siolua')], args: ['--no-reload'], env: cleanEnv(), replaceEnv: true });
  const warned = srv.stderr().match(/\/socket\.io\/socket\.io\.js is not served: no client bundle in (\S+) \(([^)]*)\)/);
  assert.ok(warned, srv.stderr());
  assert.equal(warned[1], join(prefix, 'share/siolua/client/dist'));
  assert.match(warned[2], /built without client\/node_modules/);
  assert.equal((await request(`${srv.url}/socket.io/socket.io.js`)).status, 404);
  assert.equal((await request(`${srv.url}/socket.io/socket.io.min.js`)).status, 404);
  await srv.stop();
  assert.equal(srv.stderr().match(/client bundle/g).length, 1, 'said once');
});

test('cpack -G DEB: the package holds the install tree and declares its libraries; its binary runs unpacked', async (t) => {
  const out = makeTempDir('siolua-deb-');
  execFileSync('cpack', ['-G', 'DEB', '--config', join(BUILD, 'CPackConfig.cmake'), '-B', out], { stdio: 'pipe' });
  const deb = readdirSync(out).find((f) => f.endsWith('.deb'));
  assert.match(deb, /^siolua_\d+\.\d+\.\d+_amd64\.deb$/);
  const path = join(out, deb);
  const list = execFileSync('dpkg-deb', ['-c', path]).toString();
  for (const f of ['./usr/bin/siolua', './usr/share/siolua/lua/siolua/api.lua', './usr/share/siolua/client/dist/socket.io.js',
    './usr/lib/systemd/system/siolua@.service', './usr/share/doc/siolua/deploying.md']) {
    assert.ok(list.split('\n').some((l) => l.endsWith(` ${f}`)), `${f} in the package`);
  }
  const info = execFileSync('dpkg-deb', ['-I', path]).toString();
  const depends = /^ Depends: (.*)$/m.exec(info)?.[1] ?? '';
  for (const lib of ['libuv1', 'libhiredis0.14', 'liblua5.4-0', 'libssl3', 'libwslay1', 'libsystemd0']) {
    assert.match(depends, new RegExp(`(^|, )${lib.replace('.', '\\.')}( |,|$)`), `Depends has ${lib}: ${depends}`);
  }
  assert.match(execFileSync('dpkg-deb', ['-I', path, 'postinst']).toString(), /daemon-reload/);
  const root = join(out, 'root');
  execFileSync('dpkg-deb', ['-x', path, root]);
  assert.ok(noSourcePath(readFileSync(join(root, 'usr/bin/siolua'))));
  const unit = readFileSync(join(root, 'usr/lib/systemd/system/siolua@.service'), 'utf8');
  assert.equal(unit, readFileSync(join(SIOLUA_ROOT, 'docs/deploy/siolua@.service'), 'utf8'),
    'the packaged unit is docs/deploy/siolua@.service as the docs show it');
  const srv = await startServer({ t, wrapper: [join(root, 'usr/bin/siolua')], args: ['--no-reload'], env: cleanEnv(), replaceEnv: true });
  assert.equal((await request(`${srv.url}/socket.io/socket.io.js`)).status, 200);
  await srv.stop();
});

test('systemd-analyze verify: the installed unit has no error or unknown setting; its exposure is low', { skip: has('systemd-analyze') ? false : 'systemd-analyze is not installed' }, async () => {
  const { prefix } = installMoved({ move: false }); // ExecStart must name an executable
  const dir = makeTempDir('siolua-unit-');
  // An instance of the template, as systemctl would load siolua@chat.
  cpSync(join(prefix, 'lib/systemd/system/siolua@.service'), join(dir, 'siolua@chat.service'));
  const r = spawnSync('systemd-analyze', ['verify', join(dir, 'siolua@chat.service')], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr.trim(), '', 'no warning');
  const sec = spawnSync('systemd-analyze', ['security', '--offline=yes', join(dir, 'siolua@chat.service')], { encoding: 'utf8' });
  const level = /Overall exposure level for siolua@chat\.service: ([\d.]+)/.exec(sec.stdout + sec.stderr);
  assert.ok(level, sec.stdout + sec.stderr);
  assert.ok(Number(level[1]) <= 2.0, `exposure ${level[1]} (hardening options in effect)`);
});
