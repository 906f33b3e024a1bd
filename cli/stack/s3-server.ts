import { mkdir } from 'node:fs/promises';
import S3rver from 's3rver';
import { randomS3Credentials } from '../../core/settings';
import { refusal, refusalXml, type S3Credentials } from './s3-guard';
import { makeWritesWhole, type S3rverFilesystemStore } from './s3-whole-writes';

export interface EmbeddedS3 {
  endpoint: string;
  /** The only credentials it accepts (every request must be SigV4-signed with them). */
  credentials: S3Credentials;
  close(): Promise<void>;
}

/** s3rver's own account registry (its authentication looks the key id up there before our guard's check is trusted). */
type AccountModule = { DUMMY_ACCOUNT: { createKeyPair(id: string, secret: string): void } };

/**
 * An S3-compatible server in this process, storing objects as files under `directory`, so the
 * artifacts of local runs survive restarts. Port 0 picks a free port. It answers only requests
 * signed with `credentials` (random ones when absent), refuses keys that would leave its folder
 * (s3-guard.ts), and writes each object whole or not at all (s3-whole-writes.ts).
 */
export async function startEmbeddedS3(options: { directory: string; port?: number; bucket: string; credentials?: S3Credentials }): Promise<EmbeddedS3> {
  await mkdir(options.directory, { recursive: true });
  const credentials = options.credentials ?? randomS3Credentials();
  (require('s3rver/lib/models/account') as AccountModule).DUMMY_ACCOUNT.createKeyPair(credentials.accessKeyId, credentials.secretAccessKey);
  const server = new S3rver({
    address: '127.0.0.1',
    port: options.port ?? 0,
    directory: options.directory,
    silent: true,
    configureBuckets: [{ name: options.bucket, configs: [] }],
  });
  makeWritesWhole((server as unknown as { store: S3rverFilesystemStore }).store);
  // First in line, before s3rver's own middleware reads or writes anything.
  (server as unknown as { middleware: unknown[] }).middleware.unshift(async (ctx: KoaContext, next: () => Promise<void>) => {
    const refused = await refusal(ctx.req, credentials);
    if (!refused) return next();
    ctx.status = refused.status;
    ctx.type = 'application/xml';
    ctx.body = refusalXml(refused);
  });
  const address = await server.run();
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    credentials,
    close: () => server.close(),
  };
}

interface KoaContext {
  req: import('node:http').IncomingMessage;
  status: number;
  type: string;
  body: unknown;
}
