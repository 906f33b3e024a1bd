import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedS3, type EmbeddedS3 } from '../../cli/stack/s3-server';
import { bundleCacheDir, resolveBundle } from '../../core/bundle-store';
import { isSafeObjectKey } from '../../core/object-key';
import { locationKey, resolveLocalPath } from '../../core/location';
import { BadInputError } from '../../core/errors';
import { PROJECT_ROOT } from '../../core/project-root';
import { ArtifactStore } from '../../core/store';

const tmp = mkdtempSync(join(tmpdir(), 'bundle-store-'));
const cacheRoot = join(tmp, 'cache');
const KIND = { what: 'test bundle', skip: (key: string) => key.startsWith('unused/') };
let s3: EmbeddedS3;
let store: ArtifactStore;

beforeAll(async () => {
  s3 = await startEmbeddedS3({ directory: join(tmp, 's3'), bucket: 'models' });
  store = new ArtifactStore({ endpoint: s3.endpoint, region: 'us-east-1', bucket: 'models', prefix: '', credentials: s3.credentials });
  await store.put('tiny/config.json', '{"a":1}');
  await store.put('tiny/onnx/model.onnx', 'weights-v1');
  await store.put('tiny/unused/big.bin', 'never synced');
});
afterAll(async () => {
  store.destroy();
  await s3.close();
  rmSync(tmp, { recursive: true, force: true });
});

const resolveTiny = (log: string[] = []) => resolveBundle('s3://models/tiny', KIND, { s3: store.settings, cacheRoot, log: (l) => log.push(l) });
const whereOf = (p: Promise<unknown>) => p.then(() => 'resolved', (e: unknown) => (e instanceof BadInputError ? e.message : `not bad input: ${String(e)}`));

describe('bundle store: local folders', () => {
  it('takes an absolute folder as is and finds a relative one from the project root', async () => {
    const dir = join(tmp, 'local');
    mkdirSync(dir);
    expect((await resolveBundle(dir, KIND)).root).toBe(dir);
    const demo = await resolveBundle('models/demo/captioner', KIND);
    expect(demo.root).toBe(resolveLocalPath('models/demo/captioner', tmp));
    expect(demo.root).toBe(join(PROJECT_ROOT, 'models/demo/captioner'));
    expect(demo.describe('config.json')).toBe(join(PROJECT_ROOT, 'models/demo/captioner/config.json'));
  });

  it('a missing folder is bad input naming what the user gave', async () => {
    expect(await whereOf(resolveBundle(join(tmp, 'nope'), KIND))).toMatch(new RegExp(`^${join(tmp, 'nope')}: test bundle folder not found`));
  });
});

describe('bundle store: s3:// bundles', () => {
  it('syncs once, leaves skipped parts out, and names files by their s3:// key', async () => {
    const first: string[] = [];
    const bundle = await resolveTiny(first);
    expect(bundle.root).toBe(bundleCacheDir('s3://models/tiny', store.settings, cacheRoot));
    expect(readFileSync(join(bundle.root, 'onnx/model.onnx'), 'utf8')).toBe('weights-v1');
    expect(() => readFileSync(join(bundle.root, 'unused/big.bin'))).toThrow();
    expect(bundle.describe('onnx/model.onnx')).toBe('s3://models/tiny/onnx/model.onnx');
    expect(first.filter((l) => l.startsWith('syncing '))).toHaveLength(1);
    const again: string[] = [];
    expect((await resolveTiny(again)).root).toBe(bundle.root);
    expect(again).toEqual([]);
  });

  it('syncs again when the bundle changed in S3 (same size, new content)', async () => {
    await resolveTiny();
    await store.put('tiny/onnx/model.onnx', 'weights-v2');
    const log: string[] = [];
    const bundle = await resolveTiny(log);
    expect(readFileSync(join(bundle.root, 'onnx/model.onnx'), 'utf8')).toBe('weights-v2');
    expect(log.filter((l) => l.startsWith('syncing '))).toHaveLength(1);
  });

  it('downloads only what changed: unchanged files are kept from the last copy', async () => {
    const { root } = await resolveTiny();
    const configBefore = statSync(join(root, 'config.json'));
    await store.put('tiny/onnx/model.onnx', 'weights-v3');
    const log: string[] = [];
    const bundle = await resolveTiny(log);
    expect(log.filter((l) => l.startsWith('syncing '))).toEqual([expect.stringContaining('(1 files, 0.0 MB; 1 unchanged kept)')]);
    expect(readFileSync(join(bundle.root, 'onnx/model.onnx'), 'utf8')).toBe('weights-v3');
    expect(readFileSync(join(bundle.root, 'config.json'), 'utf8')).toBe('{"a":1}');
    // The same file on disk (linked into the new copy), not a second download of it.
    expect(statSync(join(bundle.root, 'config.json')).ino).toBe(configBefore.ino);
  });

  it('syncs again when the cached copy was damaged', async () => {
    const { root } = await resolveTiny();
    truncateSync(join(root, 'config.json'), 2);
    const log: string[] = [];
    await resolveTiny(log);
    expect(readFileSync(join(root, 'config.json'), 'utf8')).toBe('{"a":1}');
    // Only the damaged file is fetched again; the intact one is kept.
    expect(log.filter((l) => l.startsWith('syncing '))).toEqual([expect.stringContaining('(1 files, 0.0 MB; 1 unchanged kept)')]);
  });

  it('a cache whose marker is missing (a sync that died before its end) is not used', async () => {
    const { root } = await resolveTiny();
    rmSync(join(root, '.diffubias-bundle.json'));
    writeFileSync(join(root, 'config.json'), 'half');
    await resolveTiny();
    expect(readFileSync(join(root, 'config.json'), 'utf8')).toBe('{"a":1}');
  });

  it('keys the cache by endpoint as well as URI', () => {
    const elsewhere = { ...store.settings, endpoint: 'http://127.0.0.1:1' };
    expect(bundleCacheDir('s3://models/tiny', elsewhere, cacheRoot)).not.toBe(bundleCacheDir('s3://models/tiny', store.settings, cacheRoot));
    expect(locationKey('s3://models/tiny/', store.settings)).toBe(locationKey('s3://models/tiny', store.settings));
  });

  it('an empty prefix, or no S3 settings, is bad input naming the URI', async () => {
    expect(await whereOf(resolveBundle('s3://models/absent', KIND, { s3: store.settings, cacheRoot }))).toBe('s3://models/absent: no test bundle under this prefix');
    expect(await whereOf(resolveBundle('s3://models/tiny', KIND, { cacheRoot }))).toMatch(/^s3:\/\/models\/tiny: an s3:\/\/ test bundle needs S3 settings/);
  });

  it('refuses keys that would be written outside the bundle folder', () => {
    for (const key of ['../x', 'a/../../x', '/etc/passwd', 'a//b', './a', 'a\\..\\b', '']) expect(isSafeObjectKey(key), key).toBe(false);
    for (const key of ['config.json', 'onnx/model.onnx', 'a..b/c']) expect(isSafeObjectKey(key), key).toBe(true);
  });
});
