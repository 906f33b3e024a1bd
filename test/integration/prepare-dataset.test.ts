import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { buildColoredMnist, buildingMarker, BUILD_MARKER, BUILDING_MARKER, type BuildMarker } from '../../datasets/cmnist/build';
import { CMNIST_BUILD_SEED, prepareDatasetEngine } from '../../stages/prepare-dataset';
import type { StageContext } from '../../stages/context';
import type { ArtifactStore } from '../../core/store';

// Enough images that every split has bias-conflicting ones (the layout needs both folders).
const LIMIT = 300;
let root: string;
let logs: string[];

// A local dataset root needs no S3; the engine reads only the store's settings.
function context(): StageContext {
  return {
    store: { settings: { region: 'us-east-1', bucket: 'unused', prefix: '' } } as unknown as ArtifactStore,
    dir: 'unused', resume: undefined, signal: new AbortController().signal,
    put: async () => '', putJson: async () => '', putScratch: async () => '', putArtifact: async () => { throw new Error('prepareDataset writes no typed artifact'); },
    progress: () => {},
    log: (m) => logs.push(m),
  };
}

const prepare = () => prepareDatasetEngine({ experimentId: 'e', dataset: { name: 'cmnist', ratio: 1, seed: 0, root } }, context());
const trainFiles = () => readdirSync(join(root, 'cmnist/1pct/align'), { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));

beforeEach(async () => {
  root = mkdtempSync(join(tmpdir(), 'prepare-dataset-'));
  logs = [];
  await buildColoredMnist({ out: root, ratios: [1], seed: CMNIST_BUILD_SEED, limit: LIMIT });
});

describe('prepareDataset on a Colored MNIST folder this project built', () => {
  it('uses a complete build as it is', async () => {
    const out = await prepare();
    expect(out.counts.train).toBe(LIMIT);
    expect(logs.some((l) => l.includes('incomplete'))).toBe(false);
  });

  it('rebuilds a build with files missing (BUILD.json says how many were written), as it was built', async () => {
    rmSync(trainFiles()[0]!);
    const out = await prepare();
    expect(logs.some((l) => l.includes(`is incomplete (train has ${LIMIT - 1} images, ${BUILD_MARKER} says ${LIMIT} were written); building it again`))).toBe(true);
    expect(out.counts.train).toBe(LIMIT);
  });

  it('rebuilds an interrupted build (BUILDING.json left behind)', async () => {
    rmSync(join(root, BUILD_MARKER));
    writeFileSync(join(root, BUILDING_MARKER), JSON.stringify({ ratios: [1], seed: 0, limit: LIMIT }));
    rmSync(trainFiles()[0]!);
    const out = await prepare();
    expect(logs.some((l) => l.includes('BUILDING.json is there: a build was interrupted'))).toBe(true);
    expect(out.counts.train).toBe(LIMIT);
    expect(readdirSync(join(root, 'cmnist'))).not.toContain('BUILDING.json');
  });

  it('rebuilds a ratio whose own build was interrupted; a build of another ratio under way is no reason', async () => {
    mkdirSync(join(root, 'cmnist', 'building'), { recursive: true });
    writeFileSync(join(root, buildingMarker(2)), JSON.stringify({ ratio: 2, seed: 0, limit: LIMIT }));
    await prepare();
    expect(logs.some((l) => l.includes('incomplete'))).toBe(false);
    writeFileSync(join(root, buildingMarker(1)), JSON.stringify({ ratio: 1, seed: 0, limit: LIMIT }));
    rmSync(trainFiles()[0]!);
    const out = await prepare();
    expect(logs.some((l) => l.includes(`${buildingMarker(1)} is there: a build of this ratio was interrupted`))).toBe(true);
    expect(out.counts.train).toBe(LIMIT);
    expect(existsSync(join(root, buildingMarker(1)))).toBe(false);
    expect(existsSync(join(root, buildingMarker(2)))).toBe(true);
  });

  it('takes a copy with no marker of ours as given, like any other dataset', async () => {
    rmSync(join(root, BUILD_MARKER));
    rmSync(trainFiles()[0]!);
    const out = await prepare();
    expect(out.counts.train).toBe(LIMIT - 1);
  });

  it("checks a copy with no marker of ours byte by byte, and fails fast naming what is wrong", async () => {
    rmSync(join(root, BUILD_MARKER));
    const broken = trainFiles()[0]!;
    writeFileSync(broken, readFileSync(broken).subarray(0, 50));
    const err = await prepare().then(() => undefined, (e: unknown) => e as Error);
    expect(err?.name).toBe('BadInputError');
    expect(err?.message).toContain('the dataset check failed');
    expect(err?.message).toContain(`truncated: ${broken}: PNG without its IEND chunk`);
  });

  it('a later build of another ratio keeps the first in BUILD.json', async () => {
    await buildColoredMnist({ out: root, ratios: [2], seed: CMNIST_BUILD_SEED, limit: LIMIT });
    const marker = JSON.parse(readFileSync(join(root, BUILD_MARKER), 'utf8')) as BuildMarker;
    expect(marker.ratios).toEqual([1, 2]);
    expect(Object.keys(marker.counts.train).sort()).toEqual(['1pct', '2pct']);
    expect(marker.filesWritten).toMatchObject({ '1pct': LIMIT, '2pct': LIMIT, valid: LIMIT, test: LIMIT });
  });
});

describe('prepareDataset on cmnist-lff', () => {
  it("builds LfF's Colored MNIST in its own folder when it is missing, and rebuilds an interrupted one", async () => {
    const lff = () => prepareDatasetEngine({ experimentId: 'e', dataset: { name: 'cmnist-lff', ratio: 1, seed: 0, root } }, context());
    await buildColoredMnist({ out: root, dataset: 'cmnist-lff', ratios: [1], seed: CMNIST_BUILD_SEED, limit: LIMIT });
    writeFileSync(join(root, buildingMarker(1, 'cmnist-lff')), JSON.stringify({ ratio: 1, seed: 0, limit: LIMIT }));
    const out = await lff();
    expect(logs.some((l) => l.includes(`${buildingMarker(1, 'cmnist-lff')} is there`))).toBe(true);
    expect(out.counts).toEqual({ train: LIMIT, conflicting: expect.any(Number), valid: LIMIT, test: LIMIT });
    expect(existsSync(join(root, buildingMarker(1, 'cmnist-lff')))).toBe(false);
    // The project's own cmnist beside it is untouched.
    expect(trainFiles().length).toBeGreaterThan(0);
  });
});

describe('prepareDataset on a folder that holds other data', () => {
  it('does not build Colored MNIST into it: the error names the folder and what is there, and nothing is written', async () => {
    const user = mkdtempSync(join(tmpdir(), 'user-images-'));
    mkdirSync(join(user, 'train', 'cat'), { recursive: true });
    writeFileSync(join(user, 'train', 'cat', 'a.png'), 'not ours');
    const err = await prepareDatasetEngine({ experimentId: 'e', dataset: { name: 'cmnist', ratio: 1, seed: 0, root: user } }, context())
      .then(() => undefined, (e: unknown) => e as Error);
    expect(err?.message).toMatch(new RegExp(`^${user.replace(/[/\\^$.*+?()[\]{}|]/g, '\\$&')}: holds other data \\(train/\\), and cmnist is not there`));
    expect(err?.message).toContain(`npx diffubias dataset build cmnist --out ${user}`);
    expect(readdirSync(user)).toEqual(['train']);
    // An empty folder, or one of this project's datasets, is built into as before.
    const empty = mkdtempSync(join(tmpdir(), 'empty-root-'));
    expect(await refused(empty)).toBe(false);
  }, 120_000);
});

/** Whether prepareDataset refused to build into `where` (it is stopped right after the check: a build takes minutes). */
async function refused(where: string): Promise<boolean> {
  const controller = new AbortController();
  controller.abort();
  const err = await prepareDatasetEngine({ experimentId: 'e', dataset: { name: 'cmnist', ratio: 1, seed: 0, root: where } }, { ...context(), signal: controller.signal })
    .then(() => undefined, (e: unknown) => e as Error);
  return /holds other data/.test(err?.message ?? '');
}
