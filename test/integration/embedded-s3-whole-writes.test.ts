/**
 * The embedded S3 writes an object whole or not at all, and a write that fails (a full disk, a
 * path it cannot write) is an error answered to the client, never a crash of the process that
 * hosts it (the dev stack: Temporal, S3 and the workers). s3rver's own store crashed the process.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { startEmbeddedS3, type EmbeddedS3 } from '../../cli/stack/s3-server';
import { writeFileWhole } from '../../cli/stack/s3-whole-writes';
import { ArtifactStore } from '../../core/store';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function serve(directory: string): Promise<{ s3: EmbeddedS3; store: ArtifactStore }> {
  const s3 = await startEmbeddedS3({ directory, bucket: 'diffubias' });
  const store = new ArtifactStore({ endpoint: s3.endpoint, region: 'us-east-1', bucket: 'diffubias', prefix: '', credentials: s3.credentials });
  cleanups.push(() => s3.close(), () => store.destroy());
  return { s3, store };
}

/** Every file under `dir`, relative. */
function filesUnder(dir: string, prefix = ''): string[] {
  return readdirSync(join(dir, prefix), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? filesUnder(dir, join(prefix, e.name)) : [join(prefix, e.name)]);
}

/** A tmpfs of `size` (root only; undefined where mounting is not allowed). */
function smallDisk(size: string): string | undefined {
  const dir = mkdtempSync(join(tmpdir(), 's3-full-'));
  if (spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir]).status !== 0) return undefined;
  cleanups.push(() => { spawnSync('umount', [dir]); });
  return dir;
}
const disk = smallDisk('256k');

describe('embedded S3 writes', () => {
  it.skipIf(!disk)('a full disk fails the PUT, not the server: earlier objects stay readable and no partial file is left', { timeout: 45_000 }, async () => {
    const { store } = await serve(join(disk!, 's3'));
    await store.put('runs/small.txt', 'kept');
    await expect(store.put('runs/big.bin', Buffer.alloc(1 << 20, 7))).rejects.toThrow();
    expect((await store.get('runs/small.txt'))?.toString()).toBe('kept');
    expect(await store.list('runs/')).toEqual(['runs/small.txt']);
    expect(filesUnder(join(disk!, 's3')).filter((f) => f.includes('big.bin'))).toEqual([]);
  });

  it('a path it cannot write is an error to the client; the server goes on serving', { timeout: 45_000 }, async () => {
    const directory = join(mkdtempSync(join(tmpdir(), 's3-writes-')), 's3');
    const { store } = await serve(directory);
    // A folder where the object's file would go: s3rver's write stream failed with EISDIR, unhandled.
    mkdirSync(join(directory, 'diffubias', 'runs', 'blocked._S3rver_object'), { recursive: true });
    await expect(store.put('runs/blocked', 'x')).rejects.toThrow();
    await store.put('runs/after.txt', 'served');
    expect((await store.get('runs/after.txt'))?.toString()).toBe('served');
  });

  it('a write cut short leaves the old file whole and no partial file beside it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'whole-'));
    const target = join(dir, 'object');
    writeFileSync(target, 'old');
    let sent = 0;
    const cut = new Readable({
      read() {
        if (sent++ < 3) this.push(Buffer.alloc(1024, 1));
        else this.destroy(new Error('connection reset'));
      },
    });
    await expect(writeFileWhole(cut, target)).rejects.toThrow('connection reset');
    expect(readFileSync(target, 'utf8')).toBe('old');
    expect(readdirSync(dir)).toEqual(['object']);
    const written = await writeFileWhole(Buffer.from('new'), target);
    expect(readFileSync(target, 'utf8')).toBe('new');
    expect(written).toEqual({ size: 3, md5: '22af645d1859cb5ca6da0c484f1f37ea' });
  });
});
