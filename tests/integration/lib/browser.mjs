// Headless Chromium for the browser tests: Debian's /usr/bin/chromium driven
// by playwright-core (which downloads no browser), a fresh profile each
// time, closed when the test that opened it ends.
import { chromium } from 'playwright-core';
import { makeTempDir } from './server.mjs';

export const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

// A browser context; args are added to CHROMIUM_ARGS, the other options go
// to launchPersistentContext (viewport, ...).
export async function launchBrowser(t, { args = [], ...options } = {}) {
  const context = await chromium.launchPersistentContext(makeTempDir('siolua-chromium-'), {
    executablePath: CHROMIUM, headless: true, args: [...CHROMIUM_ARGS, ...args], ...options,
  });
  if (t) t.after(() => context.close());
  return context;
}
