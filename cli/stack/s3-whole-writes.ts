import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** The part of s3rver 3.7's filesystem store (node_modules/s3rver/lib/stores/filesystem.js) whose writes are replaced. */
export interface S3rverFilesystemStore {
  getResourcePath(bucket: string, key: string | undefined, resource: string): string;
  putMetadata(bucket: string, key: string, metadata: unknown, md5: string): Promise<void>;
  putObject(object: { bucket: string; key: string; content: Readable | Buffer; metadata: unknown }): Promise<{ size: number; md5: string }>;
  putPart(bucket: string, uploadId: string, partNumber: number, content: Readable): Promise<{ size: number; md5: string }>;
}

/**
 * Writes `content` to `target` whole or not at all: the bytes go to a temporary file beside it
 * (a name s3rver's listing skips: it lists only `._S3rver_object` files), a failed write rejects
 * and leaves nothing, and only a complete file is renamed into place.
 */
export async function writeFileWhole(content: Readable | Buffer, target: string): Promise<{ size: number; md5: string }> {
  await mkdir(dirname(target), { recursive: true });
  const temporary = `${target}.${randomUUID()}.partial`;
  const md5 = createHash('md5');
  let size = 0;
  const count = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      md5.update(chunk);
      size += chunk.length;
      callback(null, chunk);
    },
  });
  try {
    await pipeline(Buffer.isBuffer(content) ? Readable.from([content]) : content, count, createWriteStream(temporary));
    await rename(temporary, target);
  } catch (err) {
    await rm(temporary, { force: true });
    throw err;
  }
  return { size, md5: md5.digest('hex') };
}

/**
 * s3rver writes an object straight to its final path, answers once it has read the request (not
 * once the bytes are on disk), and leaves its file stream's errors unhandled: a full disk killed
 * the whole dev stack (Temporal server, S3 and workers) with an uncaught ENOSPC, and a write cut
 * short could leave a truncated object under its key. Its two streaming writes are replaced by
 * writeFileWhole: a failed write is answered 500 (the client retries, the stage's activity after
 * it), the server keeps running, and an object is either the old one or the whole new one.
 */
export function makeWritesWhole(store: S3rverFilesystemStore): void {
  store.putObject = async (object) => {
    const written = await writeFileWhole(object.content, store.getResourcePath(object.bucket, object.key, 'object'));
    await store.putMetadata(object.bucket, object.key, object.metadata, written.md5);
    return written;
  };
  store.putPart = async (bucket, uploadId, partNumber, content) => {
    const part = join(store.getResourcePath(bucket, undefined, 'uploads'), uploadId, String(partNumber));
    const written = await writeFileWhole(content, part);
    await writeFileWhole(Buffer.from(written.md5), `${part}.md5`);
    return written;
  };
}
