// The Prometheus text format 0.0.4, read strictly: every line is a HELP, a
// TYPE or a sample; each family has one HELP and one TYPE before its
// samples, and all its samples together; sample names belong to their
// family (histograms: _bucket, _sum, _count); label names and escapes are
// the format's; no series twice; histogram buckets are cumulative, end at
// le="+Inf", and that bucket equals _count. Any breach throws with the
// line. promtool (Prometheus's own checker, Debian's `prometheus`
// package) reads the same text too when it is installed.
import { execFileSync } from 'node:child_process';

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

function parseValue(s, line) {
  if (s === '+Inf') return Infinity;
  if (s === '-Inf') return -Infinity;
  if (s === 'NaN') return NaN;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(s)) throw new Error(`bad value ${JSON.stringify(s)} in: ${line}`);
  return Number(s);
}

// {a="x",b="y\"z"} -> [labels, rest of the line]
function parseLabels(s, line) {
  const labels = {};
  let i = 1;
  for (;;) {
    if (s[i] === '}') return [labels, s.slice(i + 1)];
    const eq = s.indexOf('=', i);
    if (eq < 0) throw new Error(`bad labels in: ${line}`);
    const name = s.slice(i, eq);
    if (!LABEL.test(name)) throw new Error(`bad label name ${JSON.stringify(name)} in: ${line}`);
    if (name in labels) throw new Error(`label ${name} twice in: ${line}`);
    if (s[eq + 1] !== '"') throw new Error(`unquoted label value in: ${line}`);
    let v = '';
    let j = eq + 2;
    for (;; j++) {
      if (j >= s.length) throw new Error(`unterminated label value in: ${line}`);
      const c = s[j];
      if (c === '"') break;
      if (c === '\n') throw new Error(`raw line feed in a label value: ${line}`);
      if (c === '\\') {
        const e = s[++j];
        if (e === 'n') v += '\n';
        else if (e === '\\' || e === '"') v += e;
        else throw new Error(`bad escape \\${e} in: ${line}`);
      } else v += c;
    }
    labels[name] = v;
    i = j + 1;
    if (s[i] === ',') i++;
    else if (s[i] !== '}') throw new Error(`expected , or } in: ${line}`);
  }
}

const seriesKey = (name, labels) => `${name}${JSON.stringify(Object.entries(labels).sort())}`;

// text -> Map(family name -> {type, help, samples: [{name, labels, value}]})
export function parseMetrics(text) {
  if (!text.endsWith('\n')) throw new Error('the exposition must end with a line feed');
  const families = new Map();
  const seen = new Set();
  let cur = null;
  for (const line of text.slice(0, -1).split('\n')) {
    if (line === '') throw new Error('empty line in the exposition');
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
      if (!m) {
        if (/^# (HELP|TYPE) /.test(line)) throw new Error(`bad ${line.slice(2, 6)} line: ${line}`);
        continue; // a comment
      }
      const [, kind, name, rest] = m;
      if (!NAME.test(name)) throw new Error(`bad metric name in: ${line}`);
      if (kind === 'HELP') {
        if (families.has(name)) throw new Error(`family ${name} appears twice`);
        if (/\\[^\\n]/.test(rest)) throw new Error(`bad escape in HELP: ${line}`);
        cur = { name, help: rest, type: null, samples: [] };
        families.set(name, cur);
      } else {
        if (!cur || cur.name !== name) throw new Error(`TYPE without its HELP first: ${line}`);
        if (cur.type) throw new Error(`second TYPE for ${name}`);
        if (cur.samples.length) throw new Error(`TYPE after samples of ${name}`);
        if (!TYPES.has(rest)) throw new Error(`bad type in: ${line}`);
        cur.type = rest;
      }
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(.*)$/.exec(line);
    if (!m) throw new Error(`not a sample: ${line}`);
    const name = m[1];
    let rest = m[2];
    let labels = {};
    if (rest.startsWith('{')) [labels, rest] = parseLabels(rest, line);
    const parts = rest.trim().split(' ');
    if (!rest.startsWith(' ') || parts.length < 1 || parts.length > 2) throw new Error(`bad sample: ${line}`);
    const value = parseValue(parts[0], line);
    if (parts[1] !== undefined && !/^-?\d+$/.test(parts[1])) throw new Error(`bad timestamp in: ${line}`);
    if (!cur || !cur.type) throw new Error(`sample outside a family with HELP and TYPE: ${line}`);
    const ok = cur.type === 'histogram' ? [`${cur.name}_bucket`, `${cur.name}_sum`, `${cur.name}_count`].includes(name)
      : cur.type === 'summary' ? [cur.name, `${cur.name}_sum`, `${cur.name}_count`].includes(name)
        : name === cur.name;
    if (!ok) throw new Error(`sample ${name} does not belong to family ${cur.name} (${cur.type})`);
    const key = seriesKey(name, labels);
    if (seen.has(key)) throw new Error(`series twice: ${line}`);
    seen.add(key);
    cur.samples.push({ name, labels, value });
  }
  for (const f of families.values()) {
    if (!f.type) throw new Error(`family ${f.name} has no TYPE`);
    if (f.type === 'counter' && f.samples.some((s) => !(s.value >= 0))) throw new Error(`negative counter ${f.name}`);
    if (f.type === 'histogram') checkHistogram(f);
  }
  return families;
}

function checkHistogram(f) {
  const groups = new Map();
  const group = (labels) => {
    const { le, ...rest } = labels;
    const k = JSON.stringify(Object.entries(rest).sort());
    if (!groups.has(k)) groups.set(k, { buckets: [], sum: undefined, count: undefined });
    return [groups.get(k), le];
  };
  for (const s of f.samples) {
    const [g, le] = group(s.labels);
    if (s.name.endsWith('_bucket')) {
      if (le === undefined) throw new Error(`${f.name}: bucket without le`);
      g.buckets.push({ le: parseValue(le, le), value: s.value });
    } else if (s.name.endsWith('_sum')) g.sum = s.value;
    else g.count = s.value;
  }
  for (const g of groups.values()) {
    if (g.sum === undefined || g.count === undefined) throw new Error(`${f.name}: _sum or _count missing`);
    for (let i = 1; i < g.buckets.length; i++) {
      if (!(g.buckets[i].le > g.buckets[i - 1].le)) throw new Error(`${f.name}: le not increasing`);
      if (g.buckets[i].value < g.buckets[i - 1].value) throw new Error(`${f.name}: buckets not cumulative`);
    }
    const last = g.buckets[g.buckets.length - 1];
    if (!last || last.le !== Infinity) throw new Error(`${f.name}: no le="+Inf" bucket last`);
    if (last.value !== g.count) throw new Error(`${f.name}: +Inf bucket ${last.value} != _count ${g.count}`);
  }
}

// The value of one series (labels must match exactly; worker labels
// included), or undefined.
export function value(families, name, labels = {}) {
  const fam = families.get(name) || families.get(name.replace(/_(bucket|sum|count)$/, ''));
  if (!fam) return undefined;
  const want = JSON.stringify(Object.entries(labels).sort());
  const s = fam.samples.find((x) => x.name === name && JSON.stringify(Object.entries(x.labels).sort()) === want);
  return s?.value;
}

// promtool's verdict on the text: null when it is happy or not installed,
// else its complaint.
export const HAVE_PROMTOOL = (() => {
  try { execFileSync('promtool', ['--version'], { stdio: 'ignore' }); return true; } catch { return false; }
})();

export function promtoolCheck(text) {
  if (!HAVE_PROMTOOL) return null;
  try {
    execFileSync('promtool', ['check', 'metrics'], { input: text, stdio: ['pipe', 'pipe', 'pipe'] });
    return null;
  } catch (e) {
    return `${e.stdout}${e.stderr}`;
  }
}

// The unlabelled samples of a server's /metrics (started with --set
// metrics=/metrics), by name: for tests that read a few counters.
export async function scrapeValues(baseUrl) {
  const fams = parseMetrics(await (await fetch(`${baseUrl}/metrics`)).text());
  const out = {};
  for (const f of fams.values()) for (const s of f.samples) if (Object.keys(s.labels).length === 0) out[s.name] = s.value;
  return out;
}
