import { readdir, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { readFileSync } from 'node:fs';
import { ArtifactStore, type S3Settings } from '../../core/store';
import { CLUSTER_HOST, CLUSTER_PORTS } from './pins';

export const CLUSTER_BUCKET = 'diffubias';
export const CLUSTER_S3_ENDPOINT = `http://${CLUSTER_HOST}:${CLUSTER_PORTS.s3}`;

/** The gateway's root credentials go in its environment, not its command line (visible to `ps`). */
export function s3GatewayEnv(keys: { accessKeyId: string; secretAccessKey: string }): NodeJS.ProcessEnv {
  return { ...process.env, ROOT_ACCESS_KEY_ID: keys.accessKeyId, ROOT_SECRET_ACCESS_KEY: keys.secretAccessKey, VGW_REGION: 'us-east-1' };
}

export function clusterS3Settings(keys: { accessKeyId: string; secretAccessKey: string }): S3Settings {
  return { endpoint: CLUSTER_S3_ENDPOINT, region: 'us-east-1', bucket: CLUSTER_BUCKET, prefix: '', credentials: keys };
}

/** True once the gateway answers a signed request with these keys. */
export async function s3Ready(settings: S3Settings): Promise<boolean> {
  const store = new ArtifactStore(settings);
  try {
    await store.ensureBucket();
    return true;
  } finally {
    store.destroy();
  }
}

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => relative(dir, join(e.parentPath, e.name)).split(sep).join('/')).sort();
}

/**
 * Copies a local model bundle to `prefix/` in the bucket, so that workers read it from S3 like any
 * other artifact. A file already there with the same size is left alone (the demo bundles never
 * change in place; a new bundle gets a new prefix).
 */
export async function uploadBundle(settings: S3Settings, localDir: string, prefix: string, log: (line: string) => void): Promise<string> {
  const store = new ArtifactStore(settings);
  try {
    const present = new Map((await store.listObjects(`${prefix}/`)).map((o) => [o.key, o.size]));
    let copied = 0;
    for (const file of await filesUnder(localDir)) {
      const key = `${prefix}/${file}`;
      const size = (await stat(join(localDir, file))).size;
      if (present.get(key) === size) continue;
      await store.put(key, readFileSync(join(localDir, file)));
      copied++;
    }
    const uri = store.uri(prefix);
    log(`s3: ${uri} (${copied === 0 ? 'already there' : `${copied} files copied`})`);
    return uri;
  } finally {
    store.destroy();
  }
}
