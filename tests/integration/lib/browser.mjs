// Headless Chromium for the browser tests: Debian's /usr/bin/chromium driven
// by playwright-core (which downloads no browser), a fresh profile each
// time, the flags DEPENDENCIES.md lists; and a blank page on the server's
// origin with the client bundle it serves loaded.
import { chromium } from 'playwright-core';
import { makeTempDir } from './server.mjs';

export const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

// A browser context; args are added to CHROMIUM_ARGS, the other options go
// to launchPersistentContext (viewport, ...). With t, it is closed when
// that test ends.
export async function launchChromium({ t, args = [], ...options } = {}) {
  const context = await chromium.launchPersistentContext(makeTempDir('siolua-chromium-'), {
    executablePath: CHROMIUM, headless: true, args: [...CHROMIUM_ARGS, ...args], ...options,
  });
  if (t) t.after(() => context.close());
  return context;
}

// A page of context on url's origin where `io` is the served client.
export async function clientPage(context, url) {
  const page = context.pages()[0] ?? await context.newPage();
  await page.goto(url + '/socket.io/socket.io.js');
  await page.setContent('<html><body></body></html>');
  await page.addScriptTag({ url: url + '/socket.io/socket.io.js' });
  return page;
}
