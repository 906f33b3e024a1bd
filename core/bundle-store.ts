/**
 * Model bundles (captioner, text-to-image, a classifier's initial weights): a folder, or an
 * `s3://bucket/prefix` synced once into a local cache that the engines read like a folder
 * (docs/captioner.md, "Pointing the project at a real captioner"). The one place that resolves a bundle's location, decides
 * whether a cached copy is current, and downloads one.
 *
 * Cache: `<cacheRoot>/<sha256(endpoint, uri)>/`, with a marker written last that records the
 * remote listing (keys, sizes, ETags) it was made from. A copy is used when the marker matches
 * the bucket's current listing and every file has its recorded size; otherwise it is downloaded
 * again into a temporary folder and swapped in, so a crash mid-sync never leaves a half bundle
 * that looks complete, and a bundle replaced in S3 is not served stale. Files whose key, size and
 * ETag are unchanged since the last copy are linked from it rather than downloaded again: editing a
 * bundle's config does not fetch its multi-GB weights a second time.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, statSync, type Dirent } from 'node:fs';
import { copyFile, link, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BadInputError } from './errors';
import { locationKey, resolveLocalPath } from './location';
import { isSafeObjectKey } from './object-key';
import { parseS3Uri } from './s3-uri';
import { settingsFromEnv } from './settings';
import { ArtifactStore, type S3Settings, type StoredObject } from './store';

/** A bundle on local disk. */
export interface LocalBundle {
  /** What the user gave (folder or s3:// prefix), for messages. */
  source: string;
  /** The folder its files are read from: the folder itself, or the sync cache. */
  root: string;
  /** Where a bundle file is, as the user would find it: a path in their folder, or an s3:// key. */
  describe(path: string): string;
}

export interface BundleStoreOptions {
  /** Endpoint and credentials for s3:// bundles (their bucket and prefix come from the URI). */
  s3?: S3Settings;
  /** Where s3:// bundles are synced; default `$DIFFUBIAS_HOME/cache/bundles`. */
  cacheRoot?: string;
  log?: (line: string) => void;
}

export interface BundleKind {
  /** How messages name it: 'captioner bundle', 'model bundle', 'initial weights'. */
  what: string;
  /** Keys (relative to the bundle) an S3 sync leaves out: parts the engine never reads. */
  skip?: (key: string) => boolean;
}

const MARKER = '.diffubias-bundle.json';

interface Marker {
  uri: string;
  endpoint: string;
  /** sha256 of the remote listing the copy was made from. */
  content: string;
  /** etag: absent in copies made before files were reused across syncs (they are downloaded again). */
  files: { path: string; size: number; etag?: string }[];
  syncedAt: string;
}

export function defaultBundleCache(env: NodeJS.ProcessEnv = process.env): string {
  return resolve(settingsFromEnv(env).home, 'cache', 'bundles');
}

/** The cache folder of an s3:// bundle. */
export function bundleCacheDir(uri: string, s3: S3Settings | undefined, cacheRoot = defaultBundleCache()): string {
  return resolve(cacheRoot, createHash('sha256').update(locationKey(uri, s3)).digest('hex').slice(0, 32));
}

/** The local folder of a bundle, syncing an s3:// one into the cache first when its copy is not current. */
export async function resolveBundle(location: string, kind: BundleKind, options: BundleStoreOptions = {}): Promise<LocalBundle> {
  const s3 = parseS3Uri(location);
  if (!s3) {
    const root = resolveLocalPath(location);
    let isFolder = false;
    try {
      isFolder = statSync(root).isDirectory();
    } catch {
      // reported below
    }
    if (!isFolder) throw new BadInputError(location, `${kind.what} folder not found (looked at ${root})`);
    return { source: location, root, describe: (path) => join(root, path) };
  }
  const { store, uri, objects } = await listBundle(location, kind, options.s3);
  const describe = (path: string) => `${uri}/${path}`;
  try {
    const dir = bundleCacheDir(uri, options.s3, options.cacheRoot);
    const content = listingHash(objects);
    if (await isCurrent(dir, content)) return { source: location, root: dir, describe };
    await sync(store, objects, { uri, endpoint: options.s3?.endpoint ?? 'aws', content, dir, what: kind.what, log: options.log });
    return { source: location, root: dir, describe };
  } finally {
    store.destroy();
  }
}

/** An s3:// bundle's objects (checked: some, none escaping its folder) and the open store that lists them; the caller destroys it. */
async function listBundle(location: string, kind: BundleKind, settings: S3Settings | undefined): Promise<{ store: ArtifactStore; uri: string; objects: StoredObject[] }> {
  const s3 = parseS3Uri(location)!;
  if (!settings) throw new BadInputError(location, `an s3:// ${kind.what} needs S3 settings`);
  const prefix = s3.prefix.replace(/\/+$/, '');
  const uri = `s3://${s3.bucket}/${prefix}`.replace(/\/$/, '');
  // ArtifactStore ends a non-empty prefix with '/', so `s3://b/models/cap` lists only that folder.
  const store = new ArtifactStore({ ...settings, bucket: s3.bucket, prefix });
  try {
    const objects = (await store.listObjects('')).filter((o) => !o.key.endsWith('/') && !kind.skip?.(o.key));
    if (objects.length === 0) throw new BadInputError(uri, `no ${kind.what} under this prefix`);
    for (const o of objects) {
      if (!isSafeObjectKey(o.key)) throw new BadInputError(`${uri}/${o.key}`, `unsafe key in a ${kind.what} (it would be written outside the bundle's folder)`);
    }
    return { store, uri, objects };
  } catch (err) {
    store.destroy();
    throw err;
  }
}

function listingHash(objects: StoredObject[]): string {
  return createHash('sha256').update(JSON.stringify(objects.map((o) => [o.key, o.size, o.etag]))).digest('hex');
}

async function readMarker(dir: string): Promise<Marker | undefined> {
  try {
    return JSON.parse(await readFile(join(dir, MARKER), 'utf8')) as Marker;
  } catch {
    return undefined;
  }
}

function hasSize(file: string, size: number): boolean {
  try {
    return statSync(file).size === size;
  } catch {
    return false;
  }
}

async function isCurrent(dir: string, content: string): Promise<boolean> {
  const marker = await readMarker(dir);
  return marker?.content === content && marker.files.every((f) => hasSize(join(dir, f.path), f.size));
}

/**
 * The files of the current copy that an object can be taken from unchanged: same key, size and
 * ETag, and still of that size on disk.
 */
async function reusableFiles(dir: string): Promise<Map<string, { size: number; etag: string }>> {
  const marker = await readMarker(dir);
  const reusable = new Map<string, { size: number; etag: string }>();
  for (const f of marker?.files ?? []) {
    if (f.etag !== undefined && hasSize(join(dir, f.path), f.size)) reusable.set(f.path, { size: f.size, etag: f.etag });
  }
  return reusable;
}

interface SyncTarget {
  uri: string;
  endpoint: string;
  content: string;
  dir: string;
  what: string;
  log?: (line: string) => void;
}

async function sync(store: ArtifactStore, objects: StoredObject[], target: SyncTarget): Promise<void> {
  const { dir } = target;
  const reusable = await reusableFiles(dir);
  const unchanged = (o: StoredObject) => reusable.get(o.key)?.size === o.size && reusable.get(o.key)?.etag === o.etag;
  const fetched = objects.filter((o) => !unchanged(o));
  const total = fetched.reduce((sum, o) => sum + o.size, 0);
  const kept = objects.length - fetched.length;
  target.log?.(`syncing ${target.what} ${target.uri} (${fetched.length} files, ${(total / 1e6).toFixed(1)} MB${kept ? `; ${kept} unchanged kept` : ''}) into ${dir}`);
  const tmp = `${dir}.part-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    const files: Marker['files'] = [];
    for (const o of objects) {
      const file = join(tmp, ...o.key.split('/'));
      await mkdir(dirname(file), { recursive: true });
      if (unchanged(o)) {
        // A hard link shares the old copy's bytes, which outlive the swap below; copied where links fail.
        const from = join(dir, ...o.key.split('/'));
        await link(from, file).catch(() => copyFile(from, file));
      } else {
        const got = await store.getStream(o.key);
        if (got === null) throw new Error(`${target.uri}/${o.key} disappeared while syncing`);
        await pipeline(got.body as Readable, createWriteStream(file));
      }
      const size = statSync(file).size;
      if (size !== o.size) throw new Error(`${target.uri}/${o.key}: got ${size} of ${o.size} bytes`);
      files.push({ path: o.key, size, etag: o.etag });
    }
    const marker: Marker = { uri: target.uri, endpoint: target.endpoint, content: target.content, files, syncedAt: new Date().toISOString() };
    await writeFile(join(tmp, MARKER), `${JSON.stringify(marker, null, 2)}\n`);
    await rm(dir, { recursive: true, force: true });
    await mkdir(dirname(dir), { recursive: true });
    try {
      await rename(tmp, dir);
    } catch (err) {
      // Another process finished the same sync first: use its copy.
      if (!(await isCurrent(dir, target.content))) throw err;
    }
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  target.log?.(`synced ${fetched.length} files of ${target.uri}`);
}

/**
 * A bundle's content identity, for stage keys: a hash of its files' paths, sizes and modification
 * times (a folder) or of its listing's keys, sizes and ETags (s3://), without reading the files.
 * A model replaced under the same path gets a new identity, so no stage reuses what the old one made.
 */
export async function bundleContentId(location: string, kind: BundleKind, options: Pick<BundleStoreOptions, 's3'> = {}): Promise<string> {
  const s3 = parseS3Uri(location);
  if (!s3) {
    const root = resolveLocalPath(location);
    let entries: Dirent[];
    try {
      entries = await readdir(root, { recursive: true, withFileTypes: true });
    } catch {
      throw new BadInputError(location, `${kind.what} folder not found (looked at ${root})`);
    }
    const files = entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name)).sort();
    const described = files.map((file) => {
      const s = statSync(file);
      return [relative(root, file), s.size, Math.round(s.mtimeMs)];
    });
    return createHash('sha256').update(JSON.stringify(described)).digest('hex').slice(0, 32);
  }
  const { store, objects } = await listBundle(location, kind, options.s3);
  store.destroy();
  return listingHash(objects).slice(0, 32);
}
