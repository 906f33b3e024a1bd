/**
 * The bundle store (core/bundle-store.ts) on a true-size bundle: uploads a model folder into a fresh
 * embedded S3, resolves it as an s3:// bundle twice (the first call downloads it into the cache, the
 * second must find the copy current and download nothing), then replaces one small file and resolves
 * again. Prints one JSON line: bytes, seconds and MB/s of each step, the log lines that say what was
 * synced, and this process's peak RSS (the download streams; nothing the size of a file is held).
 *
 *   npx tsx scripts/bench-bundle-sync.ts <bundle folder> [--work <dir>]
 *
 * The work folder (default: a temp folder) holds the S3 objects and the cache, twice the bundle's size,
 * and is removed at the end.
 */
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { startEmbeddedS3 } from '../cli/stack/s3-server';
import { resolveBundle } from '../core/bundle-store';
import { ArtifactStore } from '../core/store';

function files(root: string): string[] {
  return readdirSync(root, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile()).map((e) => relative(root, join(e.parentPath, e.name))).sort();
}

void (async () => {
  const argv = process.argv.slice(2);
  const folder = argv[0];
  if (!folder) throw new Error('usage: bench-bundle-sync.ts <bundle folder> [--work <dir>]');
  const root = resolve(folder);
  const workIndex = argv.indexOf('--work');
  const work = mkdtempSync(join(workIndex >= 0 ? resolve(argv[workIndex + 1]!) : tmpdir(), 'bundle-sync-'));
  const s3 = await startEmbeddedS3({ directory: join(work, 's3'), bucket: 'models' });
  const store = new ArtifactStore({ endpoint: s3.endpoint, region: 'us-east-1', bucket: 'models', prefix: '', credentials: s3.credentials });
  const settings = store.settings;
  try {
    const list = files(root);
    const bytes = list.reduce((sum, f) => sum + statSync(join(root, f)).size, 0);
    const mb = bytes / 1e6;
    let t = performance.now();
    for (const f of list) await store.putFile(`bundle/${f.split('\\').join('/')}`, join(root, f));
    const uploadS = (performance.now() - t) / 1000;
    const resolveOnce = async () => {
      const log: string[] = [];
      const started = performance.now();
      const bundle = await resolveBundle('s3://models/bundle', { what: 'bundle' }, { s3: settings, cacheRoot: join(work, 'cache'), log: (l) => log.push(l) });
      return { seconds: (performance.now() - started) / 1000, log, root: bundle.root };
    };
    const first = await resolveOnce();
    const second = await resolveOnce();
    // A config edited in place: the listing changes, so the copy is no longer current.
    const small = list.find((f) => f.endsWith('.json')) ?? list[0]!;
    await store.put(`bundle/${small}`, `${JSON.stringify({ edited: new Date().toISOString() })}\n`);
    const third = await resolveOnce();
    const same = files(first.root).filter((f) => f !== '.diffubias-bundle.json').length;
    console.log(JSON.stringify({
      bundle: root, files: list.length, mb: Number(mb.toFixed(1)),
      upload: { seconds: Number(uploadS.toFixed(1)), mb_per_s: Number((mb / uploadS).toFixed(0)) },
      first_resolve: { seconds: Number(first.seconds.toFixed(1)), mb_per_s: Number((mb / first.seconds).toFixed(0)), log: first.log },
      second_resolve: { seconds: Number(second.seconds.toFixed(3)), log: second.log },
      after_one_file_changed: { changed: small, seconds: Number(third.seconds.toFixed(1)), log: third.log },
      cached_files: same,
      peak_rss_gb: Number((process.resourceUsage().maxRSS / 1024 ** 2).toFixed(2)),
    }));
  } finally {
    store.destroy();
    await s3.close();
    rmSync(work, { recursive: true, force: true });
  }
})();
