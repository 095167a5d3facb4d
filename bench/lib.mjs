// What the bench scripts share: start a server process and wait for the
// line that gives its port, and read a process's resident memory and CPU
// time from /proc.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

export const ROOT = join(import.meta.dirname, '..');

// Runs cmd args (from tests/, with its node_modules) and resolves
// {proc, url} once a line of stream ('stdout' or 'stderr') matches pattern,
// whose first group is the port.
export function start(cmd, args, pattern, stream) {
  const proc = spawn(cmd, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    cwd: join(ROOT, 'tests'),
    env: { ...process.env, NODE_PATH: join(ROOT, 'tests', 'node_modules') },
  });
  return new Promise((resolve, reject) => {
    createInterface({ input: proc[stream] }).on('line', (line) => {
      const m = pattern.exec(line);
      if (m) resolve({ proc, url: `http://127.0.0.1:${m[1]}` });
    });
    proc.on('exit', (code) => reject(new Error(`${cmd} exited ${code}`)));
  });
}

export function rssKiB(pid) {
  return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
}

// [user, system] CPU ms of pid so far (100 Hz ticks).
export function cpuSplit(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return [Number(f[11]) * 10, Number(f[12]) * 10];
}
export const cpuMs = (pid) => cpuSplit(pid)[0] + cpuSplit(pid)[1];
