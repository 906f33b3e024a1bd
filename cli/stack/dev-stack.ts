import { embeddedS3Credentials } from '../../core/settings';
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Client, Connection } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import type { NativeConnection } from '@temporalio/worker';
import { ALL_SEARCH_ATTRIBUTE_KEYS } from '../../workflows/definitions';
import { findTemporalCli, INSTALL_HINT } from './temporal-cli';
import { startEmbeddedS3, type EmbeddedS3 } from './s3-server';

export interface DevStackOptions {
  /** Folder for Temporal's SQLite file and the embedded S3's objects; absent = nothing persisted (tests). */
  home?: string;
  /** Temporal frontend port (default: a free one). */
  port?: number;
  /** Web UI port; absent = no UI. */
  uiPort?: number;
  /** Start the embedded S3 server on this port (0 = a free one); absent = do not start it. */
  s3Port?: number;
  bucket?: string;
  log?: (line: string) => void;
}

export interface DevStack {
  address: string;
  client: Client;
  connection: Connection;
  nativeConnection: NativeConnection;
  s3?: EmbeddedS3;
  close(): Promise<void>;
}

/**
 * The Temporal dev server (with the search attributes registered) and, optionally, the embedded S3.
 * Tests use it without a home (in-memory Temporal) and the CLI's `dev` with one (runs survive restarts).
 */
export async function startDevStack(options: DevStackOptions): Promise<DevStack> {
  const log = options.log ?? (() => {});
  const cli = findTemporalCli();
  log(`Temporal CLI: ${cli.source}`);
  const home = options.home ? resolve(options.home) : undefined;
  if (home) await mkdir(home, { recursive: true });
  let env: TestWorkflowEnvironment;
  try {
    env = await TestWorkflowEnvironment.createLocal({
      server: {
        executable: cli.executable,
        ip: '127.0.0.1',
        port: options.port,
        ui: options.uiPort !== undefined,
        uiPort: options.uiPort,
        dbFilename: home ? join(home, 'temporal.db') : undefined,
        searchAttributes: ALL_SEARCH_ATTRIBUTE_KEYS,
        log: { format: 'pretty', level: 'error' },
      },
    });
  } catch (err) {
    throw new Error(`could not start the Temporal dev server with ${cli.source}: ${(err as Error).message}\n${INSTALL_HINT}`);
  }
  let s3: EmbeddedS3 | undefined;
  try {
    if (options.s3Port !== undefined) {
      s3 = await startEmbeddedS3({
        directory: home ? join(home, 's3') : await tempDir(),
        port: options.s3Port,
        bucket: options.bucket ?? 'diffubias',
        // A home's server takes the home's credentials, which its workers and commands read too.
        ...(home ? { credentials: embeddedS3Credentials(home) } : {}),
      });
    }
  } catch (err) {
    await env.teardown();
    throw new Error(`could not start the embedded S3 server on port ${options.s3Port}: ${(err as Error).message}`);
  }
  return {
    address: env.address,
    client: env.client,
    connection: env.connection,
    nativeConnection: env.nativeConnection,
    s3,
    async close() {
      await s3?.close();
      await env.teardown();
    },
  };
}

async function tempDir(): Promise<string> {
  const { mkdtemp } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  return mkdtemp(join(tmpdir(), 'diffubias-s3-'));
}
