#!/usr/bin/env node
// Mints an HS256 token for a user of apps/notify:
//   NOTIFY_SECRET=... node apps/notify/tools/mint-token.mjs USER [TTL_SECONDS]
import { createHmac } from 'node:crypto';

const [user, ttl = '3600'] = process.argv.slice(2);
if (!user) {
  console.error('usage: NOTIFY_SECRET=... mint-token.mjs USER [TTL_SECONDS]');
  process.exit(2);
}
const secret = process.env.NOTIFY_SECRET || 'dev-secret-change-me';
const b64 = (s) => Buffer.from(s).toString('base64url');
const head = b64(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
const body = b64(JSON.stringify({ sub: user, exp: Math.floor(Date.now() / 1000) + Number(ttl) }));
const sig = createHmac('sha256', secret).update(`${head}.${body}`).digest('base64url');
console.log(`${head}.${body}.${sig}`);
