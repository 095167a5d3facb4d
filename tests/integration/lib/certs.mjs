// Certificates made at test time with the openssl command, in a temporary
// directory: a test CA, certificates it signs for the names given, and a
// self-signed one; nothing is checked in. Used by the TLS server tests and
// the outbound HTTP (sio.fetch) tests.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeTempDir } from './server.mjs';

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

// In a new temporary directory: ca.pem/ca.key, NAME.pem/NAME.key for each
// {NAME: 'DNS:localhost,IP:127.0.0.1'} of signed (by the CA), and
// self.pem/self.key (self-signed for localhost and 127.0.0.1). Returns
// {dir, caFile, file(name, ext), NAME: {key, cert, certFile, keyFile}, self: {...}}.
export function makeCerts(signed = { good: 'DNS:localhost,IP:127.0.0.1' }, { cn = 'siolua test CA' } = {}) {
  const dir = makeTempDir('siolua-certs-');
  const openssl = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  openssl('req', '-x509', ...EC, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', `/CN=${cn}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  const pair = (name) => ({
    keyFile: join(dir, `${name}.key`),
    certFile: join(dir, `${name}.pem`),
    key: readFileSync(join(dir, `${name}.key`)),
    cert: readFileSync(join(dir, `${name}.pem`)),
  });
  const out = { dir, caFile: join(dir, 'ca.pem'), file: (name, ext) => join(dir, `${name}.${ext}`) };
  for (const [name, san] of Object.entries(signed)) {
    openssl('req', ...EC, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', '/CN=localhost');
    writeFileSync(join(dir, `${name}.ext`), `subjectAltName=${san}\nbasicConstraints=CA:FALSE\n`);
    openssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial',
      '-out', `${name}.pem`, '-days', '2', '-extfile', `${name}.ext`);
    out[name] = pair(name);
  }
  openssl('req', '-x509', ...EC, '-keyout', 'self.key', '-out', 'self.pem', '-days', '2', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1');
  out.self = pair('self');
  return out;
}

// The base64 SHA-256 of a certificate's public key (SubjectPublicKeyInfo):
// what Chromium's --ignore-certificate-errors-spki-list takes.
export function spkiHash(certFile) {
  const pub = execFileSync('openssl', ['x509', '-in', certFile, '-pubkey', '-noout']);
  const der = execFileSync('openssl', ['pkey', '-pubin', '-outform', 'der'], { input: pub });
  return execFileSync('openssl', ['dgst', '-sha256', '-binary'], { input: der }).toString('base64');
}
