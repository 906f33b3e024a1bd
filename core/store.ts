import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsCommand,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { createReadStream, statSync } from 'node:fs';
import { BadInputError } from './errors';
import { isSafeKeyPrefix, isSafeObjectKey } from './object-key';

/** S3's limit on one PutObject; larger objects need a multipart upload. */
const MAX_SINGLE_PUT_BYTES = 5 * 1024 ** 3;

// The AWS SDK warns in every process that its Node 20 support ends in 2027; the stack pins Node 20
// and the SDK version (package-lock.json), so for our users the warning is noise. Read when the
// first client is constructed, so setting it here is early enough.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

export interface S3Settings {
  /** Custom endpoint (MinIO, the embedded server); absent = AWS. */
  endpoint?: string;
  region: string;
  bucket: string;
  /** Prepended to every key, e.g. `team-a/` (empty = bucket root). */
  prefix: string;
  /** Explicit credentials; absent = the standard AWS credential chain. */
  credentials?: { accessKeyId: string; secretAccessKey: string };
}

/** One listed object: its key (relative to the store's prefix), size in bytes and ETag. */
export interface StoredObject {
  key: string;
  size: number;
  etag: string;
}

/** The artifact store: S3 keys relative to a configured prefix. Knows nothing of stages or Temporal. */
export class ArtifactStore {
  readonly client: S3Client;
  readonly bucket: string;
  private readonly prefix: string;

  constructor(readonly settings: S3Settings) {
    const config: S3ClientConfig = {
      region: settings.region,
      endpoint: settings.endpoint,
      forcePathStyle: settings.endpoint !== undefined,
      credentials: settings.credentials,
      // Checksums on every request are a newer S3 feature that MinIO-style servers may not speak.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      // A hung endpoint must fail an attempt, not hold a worker's slot until the heartbeat timeout:
      // 5 s to connect, 60 s of silence on an open socket. The SDK retries each request (5 attempts,
      // backoff up to 20 s); the activity retry policy covers outages longer than that.
      maxAttempts: 5,
      requestHandler: { connectionTimeout: 5_000, requestTimeout: 60_000 },
    };
    this.client = new S3Client(config);
    this.bucket = settings.bucket;
    if (!isSafeKeyPrefix(settings.prefix)) throw new BadInputError(`s3://${settings.bucket}/${settings.prefix}`, 'not a safe key prefix (an empty, "." or ".." part, a leading "/", or a backslash)');
    this.prefix = settings.prefix && !settings.prefix.endsWith('/') ? `${settings.prefix}/` : settings.prefix;
  }

  /** The full key of `key`, refused when it could name something outside the prefix. */
  private objectKey(key: string): string {
    if (!isSafeObjectKey(key)) throw new BadInputError(this.uri(key), 'unsafe object key (an empty, "." or ".." part, a leading "/", or a backslash)');
    return this.prefix + key;
  }

  private listingPrefix(prefix: string): string {
    if (!isSafeKeyPrefix(prefix)) throw new BadInputError(this.uri(prefix), 'unsafe listing prefix');
    return this.prefix + prefix;
  }

  /** Where a key lives, for messages and reports. */
  uri(key: string): string {
    return `s3://${this.bucket}/${this.prefix}${key}`;
  }

  async ensureBucket(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
    } catch (err) {
      if (!isNotFound(err)) throw err;
      await this.client.send(new CreateBucketCommand({ Bucket: this.bucket }));
    }
  }

  async put(key: string, body: Uint8Array | string, contentType = 'application/octet-stream'): Promise<void> {
    await this.client.send(
      new PutObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key), Body: body, ContentType: contentType }),
    );
  }

  /**
   * Uploads a file by streaming it (one PUT, so up to S3's 5 GB an object): bundles hold single
   * weight files of several GB that should not pass through memory.
   */
  async putFile(key: string, path: string): Promise<void> {
    const size = statSync(path).size;
    if (size > MAX_SINGLE_PUT_BYTES) throw new BadInputError(path, `${(size / 1e9).toFixed(1)} GB is over S3's 5 GB for one PUT`);
    await this.client.send(
      new PutObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key), Body: createReadStream(path), ContentLength: size }),
    );
  }

  /** Removes the object; no error when it is not there. */
  async delete(key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }));
  }

  async putJson(key: string, value: unknown): Promise<void> {
    await this.put(key, `${JSON.stringify(value, null, 2)}\n`, 'application/json');
  }

  /** The object's bytes, or null when there is no such key. */
  async get(key: string): Promise<Buffer | null> {
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }));
      if (!res.Body) return Buffer.alloc(0);
      return Buffer.from(await res.Body.transformToByteArray());
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  async getJson<T>(key: string): Promise<T | null> {
    const bytes = await this.get(key);
    if (bytes === null) return null;
    try {
      return JSON.parse(bytes.toString('utf8')) as T;
    } catch (err) {
      throw new Error(`${this.uri(key)}: not valid JSON (${(err as Error).message})`);
    }
  }

  /** Size in bytes, or null when there is no such key. */
  async size(key: string): Promise<number | null> {
    try {
      const res = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }));
      return res.ContentLength ?? 0;
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  /**
   * Every object under `prefix`, sorted by key, with its size and ETag. ListObjects (v1) with the
   * last key as the marker, not v2's continuation tokens: the embedded server (s3rver) makes those
   * with DES, which OpenSSL 3 (Node 17+) refuses, so any v2 listing past 1,000 keys fails there with
   * InternalError. v1 paging is what every S3 implementation supports.
   */
  async listObjects(prefix: string): Promise<StoredObject[]> {
    const objects: StoredObject[] = [];
    let marker: string | undefined;
    for (;;) {
      const res = await this.client.send(new ListObjectsCommand({ Bucket: this.bucket, Prefix: this.listingPrefix(prefix), Marker: marker }));
      const page = (res.Contents ?? []).filter((item) => item.Key);
      for (const item of page) objects.push({ key: item.Key!.slice(this.prefix.length), size: item.Size ?? 0, etag: item.ETag ?? '' });
      if (!res.IsTruncated || page.length === 0) break;
      marker = res.NextMarker ?? page[page.length - 1]!.Key;
    }
    return objects.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  /** Up to `limit` names directly under `prefix`: objects, and sub-prefixes ending in "/" (one page, v1 listing). */
  async listTop(prefix: string, limit: number): Promise<string[]> {
    const res = await this.client.send(new ListObjectsCommand({ Bucket: this.bucket, Prefix: this.listingPrefix(prefix), Delimiter: '/', MaxKeys: limit }));
    const base = this.listingPrefix(prefix);
    const names = [...(res.CommonPrefixes ?? []).map((p) => p.Prefix ?? ''), ...(res.Contents ?? []).map((c) => c.Key ?? '')];
    return names.filter(Boolean).map((name) => name.slice(base.length)).filter(Boolean).slice(0, limit).sort();
  }

  /** Every key under `prefix`, sorted. */
  async list(prefix: string): Promise<string[]> {
    return (await this.listObjects(prefix)).map((o) => o.key);
  }

  /** The object's body as a stream (large files: model weights), or null when there is no such key. */
  async getStream(key: string): Promise<{ body: NodeJS.ReadableStream; size?: number } | null> {
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }));
      if (!res.Body) throw new Error(`${this.uri(key)}: empty response body`);
      return { body: res.Body as NodeJS.ReadableStream, size: res.ContentLength };
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  destroy(): void {
    this.client.destroy();
  }
}

function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === 'NoSuchKey' || e?.name === 'NotFound' || e?.name === 'NoSuchBucket' || e?.$metadata?.httpStatusCode === 404;
}
