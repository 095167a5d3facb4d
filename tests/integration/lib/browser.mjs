// Headless Chromium (Debian's, driven by playwright-core) as the
// compression tests use it: a fresh profile, the flags DEPENDENCIES.md
// lists, and a blank page on the server's origin with the client bundle
// it serves loaded.
import { chromium } from 'playwright-core';
import { makeTempDir } from './server.mjs';

export function launchChromium() {
  return chromium.launchPersistentContext(makeTempDir('siolua-chromium-'), {
    executablePath: process.env.CHROMIUM_BIN || '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

// A page of context on url's origin where `io` is the served client.
export async function clientPage(context, url) {
  const page = context.pages()[0] ?? await context.newPage();
  await page.goto(url + '/socket.io/socket.io.js');
  await page.setContent('<html><body></body></html>');
  await page.addScriptTag({ url: url + '/socket.io/socket.io.js' });
  return page;
}
