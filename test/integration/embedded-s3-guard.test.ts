/**
 * The dev stack's embedded S3 on a shared machine: only requests signed with the home's own
 * credentials are answered, and no key can leave its folder. Checked from raw HTTP clients.
 */
import { existsSync, mkdtempSync, readdirSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedS3, type EmbeddedS3 } from '../../cli/stack/s3-server';
import { ArtifactStore } from '../../core/store';
import { EMBEDDED_S3_CREDENTIALS_FILE, embeddedS3Credentials, randomS3Credentials } from '../../core/settings';

let home: string;
let s3: EmbeddedS3;
let store: ArtifactStore;

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), 's3-guard-'));
  s3 = await startEmbeddedS3({ directory: join(home, 's3'), bucket: 'diffubias', credentials: embeddedS3Credentials(home) });
  store = new ArtifactStore({ endpoint: s3.endpoint, region: 'us-east-1', bucket: 'diffubias', prefix: '', credentials: s3.credentials });
});
afterAll(async () => {
  store?.destroy();
  await s3?.close();
});

/** A raw HTTP request: the path exactly as given (no URL normalisation), no signature unless headers carry one. */
function raw(method: string, path: string, body?: string): Promise<{ status: number; text: string }> {
  const url = new URL(s3.endpoint);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, method, path, headers: body ? { 'content-length': Buffer.byteLength(body) } : {} }, (res) => {
      let text = '';
      res.on('data', (c) => { text += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('embedded S3 guard', () => {
  it("keeps the home's credentials in a file only its owner reads, and serves requests signed with them", async () => {
    const file = join(home, EMBEDDED_S3_CREDENTIALS_FILE);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(embeddedS3Credentials(home)).toEqual(s3.credentials);
    await store.put('runs/a.txt', 'a');
    expect((await store.get('runs/a.txt'))?.toString()).toBe('a');
    expect(await store.list('runs/')).toEqual(['runs/a.txt']);
  });

  it('refuses an unsigned GET and PUT (403), and writes nothing', async () => {
    const get = await raw('GET', '/diffubias/runs/a.txt');
    expect(get.status).toBe(403);
    expect(get.text).toContain('<Code>AccessDenied</Code>');
    const put = await raw('PUT', '/diffubias/runs/b.txt', 'b');
    expect(put.status).toBe(403);
    expect(await store.get('runs/b.txt')).toBeNull();
  });

  it('refuses a key with ".." (400): nothing is written outside its folder', async () => {
    const put = await raw('PUT', '/diffubias/../../probe-escape', 'x');
    expect(put.status).toBe(400);
    expect(put.text).toContain('<Code>InvalidArgument</Code>');
    const encoded = await raw('PUT', '/diffubias/%2E%2E/%2E%2E/probe-escape', 'x');
    expect(encoded.status).toBe(400);
    expect(readdirSync(home).some((n) => n.includes('probe-escape'))).toBe(false);
    expect(existsSync(join(home, 'probe-escape._S3rver_object'))).toBe(false);
  });

  it('refuses requests signed with other credentials (a signature the server cannot reproduce)', async () => {
    const other = new ArtifactStore({ endpoint: s3.endpoint, region: 'us-east-1', bucket: 'diffubias', prefix: '', credentials: { ...s3.credentials, secretAccessKey: randomS3Credentials().secretAccessKey } });
    try {
      await expect(other.get('runs/a.txt')).rejects.toThrow();
      await expect(other.put('runs/c.txt', 'c')).rejects.toThrow(/signature/i);
      expect(await store.get('runs/c.txt')).toBeNull();
    } finally {
      other.destroy();
    }
  });
});
