// The other side of host/protocol/tests/jwe_interop.rs: panva's jose, an independent JWE
// implementation. `node interop.mjs NODE_DIR make` reads a list of {alg, enc, crv} cases and
// answers, for each, a private JWK that jose generated and a token jose encrypted to it;
// `node interop.mjs NODE_DIR open` reads {alg, enc, jwk, token} cases and answers what jose
// decrypts from each token ({plaintext, header} or {error}). JSON on stdin and stdout.
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [dir, command] = process.argv.slice(2);
const jose = await import(pathToFileURL(createRequire(join(dir, 'package.json')).resolve('jose')).href);

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const input = JSON.parse(Buffer.concat(chunks).toString('utf8'));

const isEcdh = (alg) => alg.startsWith('ECDH-ES');
const encoder = new TextEncoder();
const decoder = new TextDecoder();

// A fresh private key for a case, and the key to encrypt to (the public half, or the secret).
async function keyFor({ alg, enc, crv }) {
  if (alg.startsWith('RSA-OAEP') || isEcdh(alg)) {
    const options = isEcdh(alg) ? { crv, extractable: true } : { modulusLength: 2048, extractable: true };
    const { publicKey, privateKey } = await jose.generateKeyPair(alg, options);
    return { jwk: await jose.exportJWK(privateKey), encryptTo: publicKey };
  }
  const secret = await jose.generateSecret(alg === 'dir' ? enc : alg, { extractable: true });
  return { jwk: await jose.exportJWK(secret), encryptTo: secret };
}

async function make(cases) {
  const out = [];
  for (const c of cases) {
    const { jwk, encryptTo } = await keyFor(c);
    jwk.kid = `jose-${c.alg}-${c.enc}-${c.crv ?? ''}`;
    const jwe = new jose.CompactEncrypt(encoder.encode(`made by jose for ${c.alg} ${c.enc} ✓`))
      .setProtectedHeader({ alg: c.alg, enc: c.enc, kid: jwk.kid, cty: 'JWT' });
    if (isEcdh(c.alg)) jwe.setKeyManagementParameters({ apu: encoder.encode('jose'), apv: encoder.encode('Gatehouse') });
    out.push({ ...c, jwk, token: await jwe.encrypt(encryptTo) });
  }
  return out;
}

async function open(cases) {
  const out = [];
  for (const { alg, enc, jwk, token } of cases) {
    try {
      const key = await jose.importJWK(jwk, alg);
      const options = { keyManagementAlgorithms: [alg], contentEncryptionAlgorithms: [enc] };
      const { plaintext, protectedHeader } = await jose.compactDecrypt(token, key, options);
      out.push({ plaintext: decoder.decode(plaintext), header: protectedHeader });
    } catch (error) {
      out.push({ error: `${error.code ?? error.name}: ${error.message}` });
    }
  }
  return out;
}

const commands = { make, open };
process.stdout.write(JSON.stringify(await commands[command](input)));
