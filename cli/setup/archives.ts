import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, relative, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar';
import * as yauzl from 'yauzl';

function openZip(path: string): Promise<yauzl.ZipFile> {
  return new Promise((ok, fail) => yauzl.open(path, { lazyEntries: true, autoClose: false }, (err, zip) => (err ? fail(err) : ok(zip))));
}

function entryStream(zip: yauzl.ZipFile, entry: yauzl.Entry): Promise<NodeJS.ReadableStream> {
  return new Promise((ok, fail) => zip.openReadStream(entry, (err, stream) => (err ? fail(err) : ok(stream))));
}

/**
 * Streams the members `destinationOf` maps to a relative path out of a zip (a wheel) under
 * `root`, one at a time: a 788 MB shared library never sits in memory. Returns the paths written.
 */
export async function extractZipMembers(zipPath: string, root: string, destinationOf: (name: string) => string | undefined): Promise<string[]> {
  const zip = await openZip(zipPath);
  const written: string[] = [];
  try {
    await new Promise<void>((done, fail) => {
      zip.on('error', fail);
      zip.on('end', done);
      zip.on('entry', (entry: yauzl.Entry) => {
        const rel = entry.fileName.endsWith('/') ? undefined : destinationOf(entry.fileName);
        if (!rel) return zip.readEntry();
        const target = resolve(root, rel);
        if (relative(root, target).startsWith('..')) return fail(new Error(`${zipPath}: member ${entry.fileName} points outside ${root}`));
        mkdir(dirname(target), { recursive: true })
          .then(() => entryStream(zip, entry))
          .then((stream) => pipeline(stream, createWriteStream(target, { mode: 0o755 })))
          .then(() => {
            written.push(target);
            zip.readEntry();
          }, fail);
      });
      zip.readEntry();
    });
  } finally {
    zip.close();
  }
  return written;
}

/** One text member of a zip (a wheel's METADATA), or undefined when it has none matching. */
export async function readZipText(zipPath: string, match: (name: string) => boolean): Promise<string | undefined> {
  const zip = await openZip(zipPath);
  try {
    return await new Promise<string | undefined>((done, fail) => {
      zip.on('error', fail);
      zip.on('end', () => done(undefined));
      zip.on('entry', (entry: yauzl.Entry) => {
        if (!match(entry.fileName)) return zip.readEntry();
        entryStream(zip, entry).then(async (stream) => {
          const chunks: Buffer[] = [];
          for await (const chunk of stream) chunks.push(chunk as Buffer);
          done(Buffer.concat(chunks).toString('utf8'));
        }, fail);
      });
      zip.readEntry();
    });
  } finally {
    zip.close();
  }
}

/** The members of a .tgz under `prefix` (e.g. an npm tarball's package/include/), into `root`. */
export async function extractTarPrefix(tgzPath: string, root: string, prefix: string): Promise<void> {
  await mkdir(root, { recursive: true });
  await tar.x({ file: tgzPath, cwd: root, filter: (path) => path.startsWith(prefix) });
}
