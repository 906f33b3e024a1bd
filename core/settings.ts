import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import type { S3Settings } from './store';
import { ConfigError } from './errors';
import { describeIssues } from './zod-issues';
import { isSafeKeyPrefix } from './object-key';

/** The embedded S3 server's default address (`diffubias dev` starts it there). */
export const EMBEDDED_S3_ENDPOINT = 'http://127.0.0.1:4568';
/** Where the dev stack keeps the embedded S3 server's credentials, under its home (mode 0600). */
export const EMBEDDED_S3_CREDENTIALS_FILE = 's3-credentials.json';

/**
 * The embedded S3 server's credentials for a home: made once (random, file mode 0600) and read by
 * the dev stack, its workers and every command on that home, so that no other user or process on
 * the machine can read or write the artifacts.
 */
/** Fresh random credentials for an embedded S3 server (a home's, made once; or one whose clients all live in one process). */
export function randomS3Credentials(): { accessKeyId: string; secretAccessKey: string } {
  return { accessKeyId: `DFB${randomBytes(8).toString('hex').toUpperCase()}`, secretAccessKey: randomBytes(30).toString('base64url') };
}

export function embeddedS3Credentials(home: string): { accessKeyId: string; secretAccessKey: string } {
  const path = join(home, EMBEDDED_S3_CREDENTIALS_FILE);
  const read = () => {
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as { accessKeyId?: unknown; secretAccessKey?: unknown };
    if (typeof parsed.accessKeyId !== 'string' || typeof parsed.secretAccessKey !== 'string') throw new ConfigError([`${path}: expected {"accessKeyId", "secretAccessKey"}`]);
    return { accessKeyId: parsed.accessKeyId, secretAccessKey: parsed.secretAccessKey };
  };
  if (existsSync(path)) return read();
  mkdirSync(home, { recursive: true });
  const fresh = randomS3Credentials();
  try {
    // 'wx': of two processes making it at once, one writes and the other reads what it wrote.
    writeFileSync(path, `${JSON.stringify(fresh)}\n`, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  return read();
}

const envSchema = z.object({
  TEMPORAL_ADDRESS: z.string().min(1).default('localhost:7233'),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  /** Any S3 endpoint; `aws` = AWS itself; unset = the embedded server. */
  DIFFUBIAS_S3_ENDPOINT: z.string().min(1).default(EMBEDDED_S3_ENDPOINT),
  DIFFUBIAS_S3_BUCKET: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'not a valid S3 bucket name').default('diffubias'),
  DIFFUBIAS_S3_PREFIX: z.string().refine(isSafeKeyPrefix, 'not a safe key prefix (no empty, "." or ".." parts, no leading "/" or backslash)').default(''),
  AWS_REGION: z.string().min(1).default('us-east-1'),
  /** Local state of the dev stack: Temporal's SQLite file, the embedded S3's objects, caches. */
  DIFFUBIAS_HOME: z.string().min(1).default('.diffubias'),
});

export interface Settings {
  temporal: { address: string; namespace: string };
  s3: S3Settings;
  /** True when the artifacts go to the embedded server (so the dev stack should start it). */
  embeddedS3: boolean;
  home: string;
}

/**
 * Settings from the environment. Credentials for a real S3 come from the standard AWS chain
 * (env, profile, instance role) and are never read or logged here.
 */
export function settingsFromEnv(env: NodeJS.ProcessEnv = process.env): Settings {
  const parsed = envSchema.safeParse(Object.fromEntries(Object.entries(env).filter(([, v]) => v !== '')));
  if (!parsed.success) throw new ConfigError(describeIssues(parsed.error), 'the environment');
  const e = parsed.data;
  const embeddedS3 = e.DIFFUBIAS_S3_ENDPOINT === EMBEDDED_S3_ENDPOINT;
  return {
    temporal: { address: e.TEMPORAL_ADDRESS, namespace: e.TEMPORAL_NAMESPACE },
    s3: {
      endpoint: e.DIFFUBIAS_S3_ENDPOINT === 'aws' ? undefined : e.DIFFUBIAS_S3_ENDPOINT,
      region: e.AWS_REGION,
      bucket: e.DIFFUBIAS_S3_BUCKET,
      prefix: e.DIFFUBIAS_S3_PREFIX,
      credentials: embeddedS3 ? embeddedS3Credentials(e.DIFFUBIAS_HOME) : undefined,
    },
    embeddedS3,
    home: e.DIFFUBIAS_HOME,
  };
}

const positiveIntText = z.string().regex(/^[1-9]\d*$/, 'a positive integer').transform(Number);
const workerEnvSchema = z.object({
  /** Which TensorFlow wheel `setup` builds against: unset = GPU when nvidia-smi lists one. */
  DIFFUBIAS_TF_DEVICE: z.enum(['cpu', 'gpu']).optional(),
  /** `0` = do not provision the native TensorFlow backend (the classifier runs on wasm). */
  DIFFUBIAS_NATIVE_TF: z.enum(['0', '1']).optional(),
  /** Forces one tfjs backend (and fails if it does not load); unset = the fastest that loads. */
  DIFFUBIAS_TF_BACKEND: z.enum(['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu']).optional(),
  DIFFUBIAS_CAPTION_DEVICE: z.enum(['cpu', 'cuda']).default('cpu'),
  DIFFUBIAS_GENERATE_DEVICE: z.enum(['cpu', 'cuda']).default('cpu'),
  /** onnxruntime's threads inside one operator for generation; unset = one per core. */
  DIFFUBIAS_GENERATE_THREADS: positiveIntText.optional(),
  /** Images per generate call; unset = by latent size (stages/unit-sizes.ts). */
  DIFFUBIAS_GENERATE_MICROBATCH: positiveIntText.optional(),
  /** `1` / `0`: read GPU power through nvidia-smi; unset = when a worker's work runs on a GPU. */
  DIFFUBIAS_GPU_POWER: z.enum(['0', '1']).optional(),
  /** The Temporal Web UI that reports link to. */
  DIFFUBIAS_UI_URL: z.string().url().default('http://localhost:8233'),
  /** Appended to the worker's Temporal identity (`<pid>@<host>/<name>`): containers share pid 1 and, on the host network, the host name. */
  DIFFUBIAS_WORKER_NAME: z.string().regex(/^[\w.-]+$/, 'letters, digits, _, . and -').optional(),
});

/** What a worker's engines run on, and where its reports link to, from the environment (README, "Environment"). */
export interface WorkerSettings {
  tfDevice?: 'cpu' | 'gpu';
  nativeTf: boolean;
  tfBackend?: 'tensorflow-gpu' | 'tensorflow' | 'wasm' | 'cpu';
  captionDevice: 'cpu' | 'cuda';
  generate: { device: 'cpu' | 'cuda'; intraOpThreads?: number; microBatch?: number };
  /** Whether this worker's GPU power is its to count (core/energy-meter.ts). */
  readsGpuPower: boolean;
  uiUrl: string;
  workerName?: string;
}

/** The worker side of the environment, each variable checked: a bad value is an error naming it, never a silent default. */
export function workerSettingsFromEnv(env: NodeJS.ProcessEnv = process.env): WorkerSettings {
  const parsed = workerEnvSchema.safeParse(Object.fromEntries(Object.entries(env).filter(([, v]) => v !== '')));
  if (!parsed.success) throw new ConfigError(describeIssues(parsed.error), 'the environment');
  const e = parsed.data;
  const onGpu = e.DIFFUBIAS_CAPTION_DEVICE === 'cuda' || e.DIFFUBIAS_GENERATE_DEVICE === 'cuda' || e.DIFFUBIAS_TF_DEVICE === 'gpu';
  return {
    ...(e.DIFFUBIAS_TF_DEVICE ? { tfDevice: e.DIFFUBIAS_TF_DEVICE } : {}),
    nativeTf: e.DIFFUBIAS_NATIVE_TF !== '0',
    ...(e.DIFFUBIAS_TF_BACKEND ? { tfBackend: e.DIFFUBIAS_TF_BACKEND } : {}),
    captionDevice: e.DIFFUBIAS_CAPTION_DEVICE,
    generate: { device: e.DIFFUBIAS_GENERATE_DEVICE, intraOpThreads: e.DIFFUBIAS_GENERATE_THREADS, microBatch: e.DIFFUBIAS_GENERATE_MICROBATCH },
    readsGpuPower: e.DIFFUBIAS_GPU_POWER === undefined ? onGpu : e.DIFFUBIAS_GPU_POWER === '1',
    uiUrl: e.DIFFUBIAS_UI_URL.replace(/\/+$/, ''),
    ...(e.DIFFUBIAS_WORKER_NAME ? { workerName: e.DIFFUBIAS_WORKER_NAME } : {}),
  };
}
