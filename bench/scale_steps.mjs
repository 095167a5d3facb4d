// The generator side of bench/scale (which starts the server, in its own
// network namespace, and runs this): connections added STEP at a time, each
// step held while the workers, the generator and the kernel are measured,
// until the target is reached or a check fails; then the reason the run
// stopped. Every generator process is ended with SIGUSR1 (the hold ends,
// each reports what it saw) and its report added up.
//
//   node bench/scale_steps.mjs --port N --server-pids SUP,W1,W2.. --conns N --step N
//        --hold S --step-hold S --connect-rate R --ping-interval MS --log DIR
//        [--min-free MIB]
//
// One line per step (held connections, RSS per connection, heartbeat CPU per
// ping in the workers and per pong in the generator, kernel socket slabs,
// memory left, descriptors of the fullest worker, sessions closed since the
// start by reason), then the totals and "stopped: <reason>".
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync, appendFileSync, createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { loadavg } from 'node:os';
import { ROOT, rssKiB, cpuMs } from './lib.mjs';

const args = Object.fromEntries(
  process.argv.slice(2).reduce((a, v, i, all) => (v.startsWith('--') ? [...a, [v.slice(2), all[i + 1]]] : a), []));
const num = (k, d) => (args[k] === undefined ? d : Number(args[k]));
const port = num('port');
const [sup, ...workers] = args['server-pids'].split(',').map(Number);
const conns = num('conns', 100000);
const step = Math.min(num('step', conns), conns);
const hold = num('hold', 60);
const interval = num('ping-interval', 25000);
const stepHold = num('step-hold', Math.ceil(interval / 1000) + 5);
const rate = num('connect-rate', 3000);
const minFree = num('min-free', 3072);
const logDir = args.log;
// A generator process holds at most 20,000 descriptors.
const PER_PROC = 17000;
// The fullest worker this close to its 20,000 descriptors stops the run.
const FD_LIMIT = 20000;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const sum = (a) => a.reduce((x, y) => x + y, 0);
const fmt = (x, d = 0) => Number(x).toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
const tryRead = (p) => { try { return readFileSync(p, 'utf8'); } catch { return ''; } };

// ---- what is measured ----------------------------------------------------------

// The slab caches a connection's two sockets live in (whole machine).
function slabKiB() {
  let kib = 0;
  for (const l of tryRead('/proc/slabinfo').split('\n')) {
    const f = l.split(/\s+/);
    if (/^(TCP|sock_inode_cache|filp|dentry|eventpoll_epi|eventpoll_pwq|skbuff_head_cache)$/.test(f[0]))
      kib += Number(f[2]) * Number(f[3]) / 1024;
  }
  return kib;
}

// This namespace's TCP counters that say why connections fail.
function netstat() {
  const out = {};
  const lines = tryRead('/proc/net/netstat').split('\n');
  for (let i = 0; i + 1 < lines.length; i += 2) {
    const k = lines[i].split(/\s+/), v = lines[i + 1].split(/\s+/);
    if (k[0] !== 'TcpExt:') continue;
    for (let j = 1; j < k.length; j++) out[k[j]] = Number(v[j]);
  }
  return out;
}

const memAvailMiB = () => Number(/MemAvailable:\s+(\d+)/.exec(tryRead('/proc/meminfo'))[1]) / 1024;
const sockstat = () => (/^TCP: .*$/m.exec(tryRead('/proc/net/sockstat')) || [''])[0];
const fdCount = (pid) => { try { return readdirSync(`/proc/${pid}/fd`).length; } catch { return 0; } };
const safe = (f, pid) => { try { return f(pid); } catch { return 0; } };

// The server's own counts, gathered over the workers by the one scraped
// (which waits 3 s for each other worker: a worker too busy to answer is
// left out, so a scrape is tried again until every worker is in it).
async function metrics() {
  let last = { ok: false, sockets: NaN, closes: {}, error: 'no answer' };
  for (let attempt = 0; attempt < 4; attempt++) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(15000) });
      const text = await res.text();
      let sockets = 0;
      const closes = {}, seen = new Set();
      for (const l of text.split('\n')) {
        let m = /^siolua_sockets\{([^}]*)\} (\d+)/.exec(l);
        if (m) {
          sockets += Number(m[2]);
          seen.add((/worker="(\d+)"/.exec(m[1]) || [])[1]);
        }
        m = /^siolua_disconnects_total\{[^}]*reason="([^"]+)"[^}]*\} (\d+)/.exec(l);
        if (m) closes[m[1]] = (closes[m[1]] || 0) + Number(m[2]);
      }
      last = { ok: seen.size >= workers.length, sockets, closes, workers: seen.size,
        error: `${seen.size} of ${workers.length} workers answered` };
      if (last.ok) return last;
    } catch (e) {
      last = { ok: false, sockets: NaN, closes: {}, error: String(e.message || e) };
    }
    await sleep(2000);
  }
  return last;
}

// Connections in this namespace by the kernel's count: both ends are TCP
// sockets here (the listeners are a few more).
const tcpInuse = () => Number((/^TCP: inuse (\d+)/m.exec(tryRead('/proc/net/sockstat')) || [0, 0])[1]);

// ---- the generator instances ------------------------------------------------------

const gens = [];          // { proc, n, connected, json, done }

function genPids() {
  const pids = [];
  for (const g of gens) {
    if (g.done) continue;
    pids.push(g.proc.pid);
    for (const c of tryRead(`/proc/${g.proc.pid}/task/${g.proc.pid}/children`).trim().split(/\s+/))
      if (c) pids.push(Number(c));
  }
  return pids;
}

function startGen(k, n) {
  const procs = Math.ceil(n / PER_PROC);
  const err = createWriteStream(join(logDir, `loadgen.${k}.err`));
  // Held until told (SIGUSR1): the run decides when it ends. Source
  // addresses apart from the other instances' (64 per process).
  const proc = spawn('nice', ['-n', '5', join(ROOT, 'build-loadgen/loadgen'), '-s', 'idle', '-p', String(port),
    '-n', String(n), '--procs', String(procs), '--hold', '1000000', '--connect-rate', String(rate),
    '--connect-timeout', '60', '--src-first', String(k * 64 * Math.ceil(step / PER_PROC))],
  { stdio: ['ignore', 'pipe', 'pipe'] });
  const g = { proc, n, procs, connected: false, json: '', done: false, exit: null };
  appendFileSync(join(logDir, 'loadgen.pids'), `${proc.pid}\n`);
  proc.stdout.on('data', (d) => { g.json += d; });
  proc.stderr.on('data', (d) => {
    err.write(d);
    if (/connect phase done/.test(String(d))) g.connected = true;
  });
  g.exited = new Promise((r) => proc.on('exit', (code) => { g.done = true; g.exit = code; err.end(); r(); }));
  gens.push(g);
  return g;
}

// ---- one step ---------------------------------------------------------------------

function sample() {
  const w = workers.map((p) => [safe(cpuMs, p), safe(rssKiB, p)]);
  const gp = genPids();
  return {
    t: performance.now() / 1000,
    wcpu: sum(w.map((x) => x[0])), wrss: sum(w.map((x) => x[1])),
    supRss: safe(rssKiB, sup),
    gcpu: sum(gp.map((p) => safe(cpuMs, p))), gpids: gp.length,
    slab: slabKiB(), mem: memAvailMiB(), net: netstat(), inuse: tcpInuse(),
  };
}

const out = (s) => { process.stdout.write(s + '\n'); };

async function main() {
  const base = sample();
  const m0 = await metrics();
  const closes0 = m0.closes;
  const rows = [];
  let stopped = null;
  out(`bench/scale: ${fmt(conns)} connections in steps of ${fmt(step)}, each step held ${stepHold} s ` +
      `(pingInterval ${interval} ms), ${workers.length} workers, ${rate}/s`);
  out('step  target     held  failed | workers RSS  KiB/conn | heartbeat: % core  us/ping  gen us/pong | ' +
      'kernel slab  KiB/conn | MiB free  load  max fds | closed since start');
  for (let k = 0, target = 0; target < conns && !stopped; k++) {
    const n = Math.min(step, conns - target);
    target += n;
    const pre = sample();
    const g = startGen(k, n);
    const t0 = performance.now();
    const limit = (n / rate + 120) * 1000;
    while (!g.connected && !g.done && performance.now() - t0 < limit && !stopped) {
      await sleep(500);
      if (memAvailMiB() < minFree) stopped = `memory: ${fmt(memAvailMiB())} MiB available, under --min-free ${minFree}`;
    }
    const connectS = (performance.now() - t0) / 1000;
    if (stopped) break;
    if (g.done) { stopped = `a generator instance exited while connecting (exit ${g.exit}; see loadgen.${k}.err)`; break; }
    if (!g.connected) { stopped = `step ${k + 1} still connecting after ${connectS.toFixed(0)} s`; break; }
    await sleep(2000); // settle
    const a = sample();
    const ma = await metrics();
    // The hold: heartbeats only, in slices so that low memory is seen.
    const holdS = target >= conns ? Math.max(stepHold, hold) : stepHold;
    for (let t = 0; t < holdS && !stopped; t += 1) {
      await sleep(1000);
      if (memAvailMiB() < minFree) stopped = `memory: ${fmt(memAvailMiB())} MiB available, under --min-free ${minFree}`;
    }
    const b = sample();
    const mb = await metrics();
    const secs = b.t - a.t;
    // The server's count; the kernel's when a worker did not answer.
    const held = mb.ok ? mb.sockets : Math.round((b.inuse - base.inuse) / 2);
    const pings = (held * secs) / (interval / 1000);   // one per connection per pingInterval
    const closed = Object.fromEntries(Object.entries(mb.closes)
      .map(([r, v]) => [r, v - (closes0[r] || 0)]).filter(([, v]) => v > 0));
    const late = closed['ping timeout'] || 0;
    const lateBefore = (ma.closes['ping timeout'] || 0) - (closes0['ping timeout'] || 0);
    const maxFds = Math.max(...workers.map(fdCount));
    const row = {
      step: k + 1, target, held, connect_s: connectS,
      cpu_ms_per_conn: (a.wcpu - pre.wcpu) / n,
      rss_mib: b.wrss / 1024, kib_per_conn: (b.wrss - base.wrss) / held,
      hb_pct: (b.wcpu - a.wcpu) / secs / 10, us_per_ping: ((b.wcpu - a.wcpu) * 1000) / pings,
      gen_us_per_pong: ((b.gcpu - a.gcpu) * 1000) / pings,
      slab_mib: (b.slab - base.slab) / 1024, slab_kib_per_conn: (b.slab - base.slab) / held,
      mem_free_mib: b.mem, load: loadavg()[0], max_fds: maxFds, closed, sockstat: sockstat(),
      listen_overflows: (b.net.ListenOverflows || 0) - (base.net.ListenOverflows || 0),
      tcp_abort_on_memory: (b.net.TCPAbortOnMemory || 0) - (base.net.TCPAbortOnMemory || 0),
      metrics_ok: mb.ok, metrics_note: mb.ok ? undefined : mb.error,
    };
    rows.push(row);
    out(`${String(row.step).padStart(4)} ${fmt(target).padStart(9)} ${fmt(held).padStart(9)} ` +
        `${fmt(target - held).padStart(7)} | ${fmt(row.rss_mib, 1).padStart(8)} MiB ${row.kib_per_conn.toFixed(2).padStart(7)} | ` +
        `${row.hb_pct.toFixed(1).padStart(15)} ${row.us_per_ping.toFixed(1).padStart(8)} ${row.gen_us_per_pong.toFixed(1).padStart(12)} | ` +
        `${fmt(row.slab_mib).padStart(7)} MiB ${row.slab_kib_per_conn.toFixed(2).padStart(8)} | ` +
        `${fmt(row.mem_free_mib).padStart(8)} ${row.load.toFixed(1).padStart(5)} ${fmt(maxFds).padStart(8)} | ` +
        `${Object.entries(closed).map(([r, v]) => `${r} ${fmt(v)}`).join(', ') || 'none'}`);
    if (!mb.ok) out(`      (the server's count is incomplete: ${mb.error}; held is the kernel's count of socket pairs)`);
    if (stopped) break;
    // A few late pongs out of a million are not yet a wall; a thousandth is.
    if (late > target * 0.001)
      stopped = `late pongs: ${fmt(late)} sessions closed for ping timeout (${fmt(lateBefore)} of them while connecting); ` +
        `the workers took ${row.hb_pct.toFixed(0)} % of a core for heartbeats (${row.us_per_ping.toFixed(1)} us per ping), ` +
        `the generator ${row.gen_us_per_pong.toFixed(1)} us per pong, load average ${row.load.toFixed(1)} on ${2} cores`;
    else if (maxFds >= FD_LIMIT - 10)
      stopped = `file descriptors: a worker holds ${fmt(maxFds)} of its ${fmt(FD_LIMIT)} (add workers: --workers)`;
    else if (held < target * 0.999)
      stopped = `connections lost: ${fmt(target - held)} of ${fmt(target)} not held (closed: ` +
        `${Object.entries(closed).map(([r, v]) => `${r} ${fmt(v)}`).join(', ') || 'none by the server'})`;
  }
  // The end: every instance reports.
  for (const g of gens) if (!g.done) g.proc.kill('SIGUSR1');
  await Promise.race([Promise.all(gens.map((g) => g.exited)), sleep(120000)]);
  const tot = { connected: 0, failed: 0, dropped: 0, errors: {}, pings: 0, cpu_ms: 0, maxrss_kib: 0, p99: 0 };
  for (const g of gens) {
    const line = g.json.trim().split('\n').pop();
    if (!line) continue;
    const r = JSON.parse(line);
    tot.connected += r.connected; tot.failed += r.failed; tot.dropped += r.dropped; tot.pings += r.pings;
    tot.cpu_ms += r.generator.cpu_ms; tot.maxrss_kib += r.generator.maxrss_kib;
    tot.p99 = Math.max(tot.p99, r.connect.p99_ms);
    for (const [e, v] of Object.entries(r.errors)) tot.errors[e] = (tot.errors[e] || 0) + v;
  }
  const end = sample();
  const serverLog = tryRead(join(logDir, 'server.log'));
  const fdFull = (serverLog.match(/every file descriptor is in use/g) || []).length;
  // What the generator saw, and the kernel, say more about a stop.
  const why = [];
  if (tot.errors.fd_limit) why.push(`the generator ran out of descriptors (fd_limit ${fmt(tot.errors.fd_limit)})`);
  if (fdFull) why.push('a worker ran out of descriptors ("every file descriptor is in use" in the server log)');
  if (tot.errors.addr) why.push(`ports: no free source address and port (addr ${fmt(tot.errors.addr)})`);
  const lo = (end.net.ListenOverflows || 0) - (base.net.ListenOverflows || 0);
  if (lo && (tot.errors.timeout || tot.errors.refused))
    why.push(`the accept backlog overflowed ${fmt(lo)} times (handshakes timed out: ${fmt(tot.errors.timeout || 0)})`);
  const am = (end.net.TCPAbortOnMemory || 0) - (base.net.TCPAbortOnMemory || 0);
  if (am) why.push(`kernel socket memory: ${fmt(am)} connections aborted (tcp_mem)`);
  if (!stopped && tot.dropped) stopped = `connections lost while holding: ${fmt(tot.dropped)}`;
  const last = rows[rows.length - 1];
  out('');
  out(`connections         ${fmt(tot.connected)} made, ${fmt(tot.failed)} failed, ${fmt(tot.dropped)} dropped; ` +
      `errors ${JSON.stringify(tot.errors)}; handshake p99 ${tot.p99.toFixed(1)} ms (worst instance)`);
  if (last) {
    out(`held                ${fmt(last.held)} at the last step (${last.step}), held ${Math.max(stepHold, hold)} s`);
    out(`workers RSS         ${fmt(last.rss_mib, 1)} MiB: ${last.kib_per_conn.toFixed(2)} KiB per connection; supervisor ${fmt(end.supRss / 1024, 1)} MiB`);
    out(`connect             last step: ${fmt(step)} in ${last.connect_s.toFixed(1)} s, ${last.cpu_ms_per_conn.toFixed(3)} ms of worker CPU per connection`);
    out(`heartbeat CPU       ${last.hb_pct.toFixed(1)} % of a core in the workers, ${last.us_per_ping.toFixed(1)} us per ping; ` +
        `generator ${last.gen_us_per_pong.toFixed(1)} us per pong`);
    out(`kernel              socket slabs +${fmt(last.slab_mib)} MiB (${last.slab_kib_per_conn.toFixed(2)} KiB per connection, both ends); ${last.sockstat}`);
  }
  out(`generator           ${fmt(tot.cpu_ms / 1000, 1)} s CPU, ${fmt(tot.maxrss_kib / 1024, 1)} MiB max RSS (sum of processes), ${fmt(tot.pings)} pings answered`);
  out(`stopped             ${stopped || `no: all ${fmt(conns)} held`}${why.length ? `; ${why.join('; ')}` : ''}`);
  writeFileSync(join(logDir, 'steps.json'), JSON.stringify({ conns, step, interval, rows, totals: tot, stopped, why }, null, 1));
  process.exit(stopped ? 1 : 0);
}

main().catch((e) => { console.error(e); for (const g of gens) if (!g.done) g.proc.kill('SIGUSR1'); process.exit(2); });
