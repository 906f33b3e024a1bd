import { mkdir, readFile, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { ArtifactStore } from '../../core/store';
import { BadInputError } from '../../core/errors';
import { encodeRgbPng } from '../../core/png';
import { CMNIST_COLORS } from './colors';
import { LFF_DEFAULT_SEVERITY, LFF_PALETTE, LFF_SEVERITY_SIGMA, planLffColoredMnist } from './lff-plan';
import { loadMnist, type MnistSplit } from './idx';
import {
  COLOR_NOISE_SIGMA,
  planColoredMnist,
  type ColoredMnistRecipe,
  type PlannedImage,
  type SplitCounts,
} from './plan';
import { parseS3Uri } from '../../core/s3-uri';
import { ratioFolder } from '../disent/layout';

/** The Colored MNIST datasets this project builds, and whose recipe each follows. */
export const COLORED_MNIST_RECIPES = { cmnist: 'diffubias', 'cmnist-lff': 'lff' } as const satisfies Record<string, ColoredMnistRecipe>;
export type ColoredMnistName = keyof typeof COLORED_MNIST_RECIPES;

export function isColoredMnist(name: string): name is ColoredMnistName {
  return Object.hasOwn(COLORED_MNIST_RECIPES, name);
}

export interface BuildOptions {
  /** A local folder, or `s3://bucket/prefix` (then `store` is required and must be for that bucket). */
  readonly out: string;
  /** Which Colored MNIST (its folder under `out`, and its recipe); default `cmnist`. */
  readonly dataset?: ColoredMnistName;
  /** cmnist-lff only: LfF's colour-noise severity, 1-5 (default 4, as LfF's experiments). */
  readonly severity?: number;
  /** Bias-conflicting percentages, e.g. [0.5, 1, 2, 5]; one train folder per ratio. */
  readonly ratios: readonly number[];
  readonly seed: number;
  /** Write only the first `limit` images of each split (tests); counts stay those of the full plan. */
  readonly limit?: number;
  readonly onProgress?: (done: number, total: number) => void;
  /** Stops the build between files (the building marker stays: the next build redoes the ratio). */
  readonly signal?: AbortSignal;
  /** Where `s3://` output goes; keys are the URI's prefix joined with the layout's paths. */
  readonly store?: ArtifactStore;
  /** Files encoded and written at once (default 16). */
  readonly concurrency?: number;
}

export interface RatioSummary extends SplitCounts {
  readonly ratio: number;
  readonly dir: string;
}

export interface BuildSummary {
  readonly out: string;
  readonly seed: number;
  readonly ratios: readonly RatioSummary[];
  readonly valid: SplitCounts;
  readonly test: SplitCounts;
  /** Files written, BUILD.json included. */
  readonly filesWritten: number;
  readonly seconds: number;
}

/** Written last: its presence is what tells a reader the build under `<out>/<dataset>` is complete. */
export function buildMarker(dataset: ColoredMnistName): string {
  return `${dataset}/BUILD.json`;
}
export const BUILD_MARKER = buildMarker('cmnist');
/**
 * Written first and removed last, one per ratio a build writes: while it is there, that ratio's
 * build was started and has not finished. Per ratio, because builds of different ratios run at
 * once (a sweep prepares its ratios side by side) and must not vouch for, or doubt, each other.
 */
export function buildingMarker(ratio: number, dataset: ColoredMnistName = 'cmnist'): string {
  return `${dataset}/building/${ratioFolder(ratio)}.json`;
}
/** The one marker cmnist builds before per-ratio markers wrote; still honoured for the ratios it lists. */
export const BUILDING_MARKER = 'cmnist/BUILDING.json';

/** What BUILD.json says of one split folder: how many images of each kind the build wrote there. */
export interface MarkerCounts {
  aligned: number;
  conflicting: number;
}

/** BUILD.json: the counts of every split the builds into this folder wrote (ratios accumulate). */
export interface BuildMarker {
  dataset: ColoredMnistName;
  seed: number;
  ratios: number[];
  counts: { train: Record<string, MarkerCounts>; valid: MarkerCounts; test: MarkerCounts };
  /** Images written per split folder (`1pct`, `valid`, `test`): fewer than the counts in a `limit` build. */
  filesWritten: Record<string, number>;
  limit: number | null;
  [field: string]: unknown;
}

const SIDE = 28;
const DEFAULT_CONCURRENCY = 16;

interface Job {
  /** Path under `out`, with forward slashes. */
  readonly rel: string;
  readonly image: PlannedImage;
  readonly mnist: MnistSplit;
}

/**
 * Builds a Colored MNIST (this project's, or LfF's exactly: COLORED_MNIST_RECIPES) in the DisEnt layout:
 * every `<ratio>pct` train split, plus the shared valid and test splits, then BUILD.json. Deterministic:
 * the same seed gives the same bytes.
 */
export async function buildColoredMnist(options: BuildOptions): Promise<BuildSummary> {
  const started = performance.now();
  const limit = options.limit ?? Number.POSITIVE_INFINITY;
  if (options.limit !== undefined && !(Number.isSafeInteger(options.limit) && options.limit >= 0)) {
    throw new BadInputError('limit', `must be a non-negative integer, got ${options.limit}`);
  }
  const concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
  if (!Number.isSafeInteger(concurrency) || concurrency < 1) {
    throw new BadInputError('concurrency', `must be a positive integer, got ${concurrency}`);
  }
  const sink = openSink(options.out, options.store);

  const train = loadMnist('train');
  const test = loadMnist('test');
  const dataset = options.dataset ?? 'cmnist';
  const recipe = COLORED_MNIST_RECIPES[dataset];
  if (options.severity !== undefined && recipe !== 'lff') throw new BadInputError('severity', `is LfF's colour noise (cmnist-lff); ${dataset} has its own`);
  const planOptions = { ratios: options.ratios, seed: options.seed, labels: { train: train.labels, test: test.labels } };
  const plan = recipe === 'lff' ? planLffColoredMnist({ ...planOptions, severity: options.severity }) : planColoredMnist(planOptions);
  const severity = options.severity ?? LFF_DEFAULT_SEVERITY;

  const splits: { dir: string; images: readonly PlannedImage[]; mnist: MnistSplit }[] = [
    ...plan.perRatio.map((r) => ({ dir: r.dir, images: r.train, mnist: train })),
    { dir: 'valid', images: plan.valid, mnist: train },
    { dir: 'test', images: plan.test, mnist: test },
  ];
  const jobs: Job[] = [];
  const written: Record<string, number> = {};
  for (const split of splits) {
    const n = Math.min(limit, split.images.length);
    written[split.dir] = n;
    for (let idx = 0; idx < n; idx++) {
      const image = split.images[idx]!;
      const kind = image.bias === image.label ? 'align' : 'conflict';
      const rel = `${dataset}/${split.dir}/${kind}/${image.label}/${idx}_${image.label}_${image.bias}.png`;
      jobs.push({ rel, image, mnist: split.mnist });
    }
  }

  if (recipe === 'lff') {
    // One folder, one severity: BUILD.json vouches for every ratio in it at the severity it names.
    const before = await sink.read(buildMarker(dataset)).then((text) => (text === null ? undefined : (JSON.parse(text) as BuildMarker)), () => undefined);
    if (before && before.severity !== undefined && before.severity !== severity) {
      throw new BadInputError('severity', `${options.out}/${dataset} holds severity ${String(before.severity)}; build severity ${severity} into another folder`);
    }
  }

  // While a ratio's building marker is there, BUILD.json does not vouch for that ratio's files.
  for (const ratio of plan.ratios) {
    await sink.write(buildingMarker(ratio, dataset), `${JSON.stringify({ ratio, seed: plan.seed, limit: options.limit ?? null })}\n`, 'application/json');
  }
  const total = jobs.length;
  let done = 0;
  await runBounded(jobs, concurrency, async (job) => {
    options.signal?.throwIfAborted();
    await sink.write(job.rel, encodeRgbPng(render(job.mnist, job.image, recipe), SIDE, SIDE), 'image/png');
    done++;
    options.onProgress?.(done, total);
  });

  const ratios = plan.perRatio.map((r) => ({ ratio: r.ratio, dir: r.dir, ...r.counts }));
  // Read again: a build of another ratio may have finished meanwhile, and its ratios stay listed.
  const latest = await sink.read(buildMarker(dataset)).then((text) => (text === null ? undefined : (JSON.parse(text) as BuildMarker)), () => undefined);
  const kept = latest && latest.seed === plan.seed ? latest : undefined;
  // No timestamps or durations here: two builds with the same seed must be byte-identical, marker included.
  const marker = {
    dataset,
    protocol: recipe === 'lff'
      ? `LfF's Colored MNIST (alinlab/LfF make_dataset.py, severity ${severity}; valid: re-coloured training digits) in the DisEnt layout`
      : 'LfF Colored MNIST (DisEnt layout)',
    seed: plan.seed,
    ratios: [...new Set([...(kept?.ratios ?? []), ...plan.ratios])].sort((a, b) => a - b),
    limit: options.limit ?? null,
    splitSizes: { train: plan.perRatio[0]?.train.length ?? 0, valid: plan.valid.length, test: plan.test.length },
    counts: {
      train: { ...kept?.counts.train, ...Object.fromEntries(ratios.map((r) => [r.dir, { aligned: r.aligned, conflicting: r.conflicting }])) },
      valid: plan.validCounts,
      test: plan.testCounts,
    },
    filesWritten: { ...kept?.filesWritten, ...written },
    ...(recipe === 'lff'
      ? { severity, colorNoiseSigma: LFF_SEVERITY_SIGMA[severity - 1], colors: LFF_PALETTE }
      : { colorNoiseSigma: COLOR_NOISE_SIGMA, colors: CMNIST_COLORS }),
  };
  await sink.write(buildMarker(dataset), `${JSON.stringify(marker, null, 2)}\n`, 'application/json');
  for (const ratio of plan.ratios) await sink.remove(buildingMarker(ratio, dataset));
  // An older build's single marker: this build settles the ratios it lists that it wrote.
  const legacy = dataset !== 'cmnist' ? undefined : await sink.read(BUILDING_MARKER).then((text) => (text === null ? undefined : (JSON.parse(text) as { ratios?: number[] })), () => undefined);
  if (legacy) {
    const left = (legacy.ratios ?? []).filter((r) => !plan.ratios.includes(r));
    if (left.length === 0) await sink.remove(BUILDING_MARKER);
    else await sink.write(BUILDING_MARKER, `${JSON.stringify({ ...legacy, ratios: left })}\n`, 'application/json');
  }

  return {
    out: options.out,
    seed: plan.seed,
    ratios,
    valid: plan.validCounts,
    test: plan.testCounts,
    filesWritten: total + 1,
    seconds: (performance.now() - started) / 1000,
  };
}

/**
 * The RGB pixels of a planned image, as its recipe paints them. This project's: MNIST intensity
 * scales the 8-bit color, rounded. LfF's: intensity (0-255) times the float32 color, truncated (its
 * np.uint8 cast). Either way the background stays black.
 */
export function render(mnist: MnistSplit, image: PlannedImage, recipe: ColoredMnistRecipe = 'diffubias'): Buffer {
  const size = mnist.rows * mnist.cols;
  const gray = mnist.pixels.subarray(image.source * size, (image.source + 1) * size);
  const [r, g, b] = image.rgb;
  const rgb = Buffer.alloc(size * 3);
  for (let p = 0; p < size; p++) {
    if (recipe === 'lff') {
      const v = gray[p]!;
      rgb[3 * p] = Math.floor(Math.fround(v * r));
      rgb[3 * p + 1] = Math.floor(Math.fround(v * g));
      rgb[3 * p + 2] = Math.floor(Math.fround(v * b));
      continue;
    }
    const v = gray[p]! / 255;
    rgb[3 * p] = Math.round(v * r);
    rgb[3 * p + 1] = Math.round(v * g);
    rgb[3 * p + 2] = Math.round(v * b);
  }
  return rgb;
}

interface Sink {
  write(rel: string, body: Uint8Array | string, contentType: string): Promise<void>;
  /** A small text file's content, or null when it is not there. */
  read(rel: string): Promise<string | null>;
  remove(rel: string): Promise<void>;
}

function openSink(out: string, store: ArtifactStore | undefined): Sink {
  const location = parseS3Uri(out, 'out');
  if (location) {
    const { bucket, prefix: rawPrefix } = location;
    if (!store) throw new BadInputError('out', `${out} is an S3 URI but no artifact store was given`);
    if (store.bucket !== bucket) {
      throw new BadInputError('out', `${out} names bucket ${bucket} but the artifact store is for ${store.bucket}`);
    }
    const prefix = (rawPrefix ?? '').replace(/\/+$/, '');
    const key = (rel: string): string => (prefix ? `${prefix}/${rel}` : rel);
    return {
      // An S3 put is atomic, so no temp name is needed.
      write: (rel, body, contentType) => store.put(key(rel), body, contentType),
      read: async (rel) => (await store.get(key(rel)))?.toString('utf8') ?? null,
      remove: (rel) => store.delete(key(rel)),
    };
  }
  if (out === '') throw new BadInputError('out', 'empty output folder');
  const made = new Map<string, Promise<unknown>>();
  let counter = 0;
  return {
    async write(rel, body) {
      const final = join(out, rel);
      const dir = dirname(final);
      // One mkdir per folder, shared by all concurrent writers into it.
      let mkdirDone = made.get(dir);
      if (!mkdirDone) {
        mkdirDone = mkdir(dir, { recursive: true });
        made.set(dir, mkdirDone);
      }
      await mkdirDone;
      // Temp file in the same folder so rename is atomic: a crash leaves at most a *.tmp, never a
      // truncated PNG under its final name.
      const tmp = `${final}.${process.pid}.${counter++}.tmp`;
      try {
        await writeFile(tmp, body);
        await rename(tmp, final);
      } catch (err) {
        await unlink(tmp).catch(() => {});
        throw err;
      }
    },
    read: (rel) => readFile(join(out, rel), 'utf8').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return null;
      throw err;
    }),
    remove: (rel) => rm(join(out, rel), { force: true }),
  };
}

/**
 * Runs `fn` over `items` with at most `limit` in flight. On a failure no new item starts, and the
 * error is thrown only after the in-flight ones settle, so nothing is still writing when it returns.
 */
async function runBounded<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (!failure && next < items.length) {
      const item = items[next++]!;
      try {
        await fn(item);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure) throw failure.error;
}
