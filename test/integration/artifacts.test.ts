import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedS3, type EmbeddedS3 } from '../../cli/stack/s3-server';
import { checkManifest, readListedFile, type Manifest } from '../../stages/runner/manifest';
import { runStageUnit, stageDir, unitPointerKey } from '../../stages/runner/stage-runner';
import { stageTimeLines, stageTimes } from '../../stages/runner/stage-times';
import { ArtifactStore } from '../../core/store';
import { settingsFromEnv } from '../../core/settings';
import { BadInputError } from '../../core/errors';

let s3: EmbeddedS3;
let store: ArtifactStore;
const directory = mkdtempSync(join(tmpdir(), 'artifacts-test-'));

beforeAll(async () => {
  s3 = await startEmbeddedS3({ directory, bucket: 'artifacts' });
  store = new ArtifactStore({ endpoint: s3.endpoint, region: 'us-east-1', bucket: 'artifacts', prefix: 'team', credentials: s3.credentials });
});
afterAll(async () => {
  store.destroy();
  await s3.close();
});

const noHooks = { progress() {} };

describe('artifact store (embedded S3-compatible server)', () => {
  it('puts, gets, lists under the prefix', async () => {
    await store.put('runs/a/x.bin', new Uint8Array([1, 2, 3]));
    await store.putJson('runs/a/y.json', { y: 1 });
    await store.put('runs/b/z.txt', 'z');
    expect(await store.get('runs/a/x.bin')).toEqual(Buffer.from([1, 2, 3]));
    expect(await store.getJson('runs/a/y.json')).toEqual({ y: 1 });
    expect(await store.get('runs/a/missing')).toBeNull();
    expect(await store.list('runs/a/')).toEqual(['runs/a/x.bin', 'runs/a/y.json']);
    expect(store.uri('runs/a/x.bin')).toBe('s3://artifacts/team/runs/a/x.bin');
    // What is directly under a prefix: objects, and sub-prefixes as folders.
    await store.put('runs/top.txt', 't');
    expect(await store.listTop('runs/', 10)).toEqual(['a/', 'b/', 'top.txt']);
    expect(await store.listTop('runs/', 1)).toHaveLength(1);
    expect(await store.listTop('nothing/', 10)).toEqual([]);
  });

  it('lists past one page (1,000 keys): a demo run stores ~4,500 generated images', async () => {
    const keys = Array.from({ length: 1234 }, (_, i) => `runs/many/${String(i).padStart(4, '0')}.png`);
    for (let i = 0; i < keys.length; i += 50) await Promise.all(keys.slice(i, i + 50).map((k) => store.put(k, 'x')));
    expect(await store.list('runs/many/')).toEqual(keys);
  }, 60_000);

  it('refuses keys, listing prefixes and store prefixes that could leave their folder (s3rver would write them outside)', async () => {
    const { existsSync } = await import('node:fs');
    for (const key of ['../../escaped.txt', 'runs/../../escaped.txt', '/etc/x', 'a//b', 'a\\b', '']) {
      await expect(store.put(key, 'x'), key).rejects.toBeInstanceOf(BadInputError);
      await expect(store.get(key), key).rejects.toThrow(/unsafe object key/);
    }
    await expect(store.list('../')).rejects.toThrow(/unsafe listing prefix/);
    expect(existsSync(join(directory, '..', 'escaped.txt'))).toBe(false);
    expect(() => new ArtifactStore({ ...store.settings, prefix: 'team/../other' })).toThrow(/s3:\/\/artifacts\/team\/\.\.\/other: not a safe key prefix/);
    expect(() => settingsFromEnv({ DIFFUBIAS_S3_PREFIX: '../x' })).toThrow(/DIFFUBIAS_S3_PREFIX/);
    expect(settingsFromEnv({ DIFFUBIAS_S3_PREFIX: 'team-a/' }).s3.prefix).toBe('team-a/');
  });

  it('survives a restart of the embedded server (objects live on disk)', async () => {
    await s3.close();
    s3 = await startEmbeddedS3({ directory, bucket: 'artifacts', port: Number(new URL(s3.endpoint).port), credentials: s3.credentials });
    expect(await store.getJson('runs/a/y.json')).toEqual({ y: 1 });
  });
});

describe('stage units: manifest last, content-hash cache', () => {
  const unit = { experimentId: 'cmnist/1/0/abc', stage: 'selectTopK', version: 1, unit: 'topk', inputs: { k: 10 } };

  it('publishes the manifest only after the files, listing them', async () => {
    const manifestKey = `${stageDir(unit)}/manifest.json`;
    const result = await runStageUnit(store, unit, noHooks, async (ctx) => {
      await ctx.put('a.json', '{"a":1}');
      // Mid-stage a reader sees no manifest, so no half output.
      expect(await store.get(manifestKey)).toBeNull();
      await ctx.putScratch('checkpoint.bin', 'scratch');
      return { n: 1 };
    });
    const manifest = (await store.getJson<Manifest>(manifestKey))!;
    expect(result).toEqual({ outputs: { n: 1 }, manifestKey, cached: false, seconds: manifest.seconds });
    expect(manifest.files.map((f) => f.key)).toEqual([`${stageDir(unit)}/a.json`]);
    expect(manifest.files[0]!.size).toBe(7);
    expect(await checkManifest(store, manifest)).toEqual([]);
    // Under stages/, keyed by the inputs alone; the experiment keeps a pointer to what it used.
    expect(manifestKey).toMatch(/^stages\/selectTopK\/topk\/[0-9a-f]{12}\/manifest\.json$/);
    expect(await store.getJson(unitPointerKey('cmnist/1/0/abc', 'selectTopK', 'topk'))).toEqual({ manifestKey, reused: false });
    expect(stageDir({ ...unit, experimentId: 'another' })).toBe(stageDir(unit));
  });

  it('reuses a complete output when inputs and config are unchanged', async () => {
    let calls = 0;
    const result = await runStageUnit(store, unit, noHooks, async () => {
      calls++;
      return { n: 2 };
    });
    expect(calls).toBe(0);
    expect(result).toMatchObject({ outputs: { n: 1 }, cached: true });
    // A reused unit says what it took when it was computed, as its manifest records.
    const stored = await store.getJson<Manifest>(result.manifestKey);
    expect(typeof stored!.seconds).toBe('number');
    expect(result.seconds).toBe(stored!.seconds);
  });

  it('recomputes when the config changes, leaving the earlier output intact', async () => {
    const changed = { ...unit, inputs: { k: 20 } };
    const result = await runStageUnit(store, changed, noHooks, async (ctx) => {
      await ctx.put('a.json', '{"a":2}');
      return { n: 3 };
    });
    expect(result).toMatchObject({ outputs: { n: 3 }, cached: false });
    expect(stageDir(changed)).not.toBe(stageDir(unit));
    expect(await store.getJson(`${stageDir(unit)}/a.json`)).toEqual({ a: 1 });
  });

  it('recomputes when the stage\'s code version changes, and records the version in the manifest', async () => {
    const bumped = { ...unit, version: 2 };
    expect(stageDir(bumped)).not.toBe(stageDir(unit));
    const result = await runStageUnit(store, bumped, noHooks, async () => ({ n: 4 }));
    expect(result).toMatchObject({ outputs: { n: 4 }, cached: false });
    expect((await store.getJson<Manifest>(result.manifestKey))!.stageVersion).toBe(2);
  });

  it('recomputes an output altered in place (same size, other bytes): detected by sha256, never reused', async () => {
    const altered = { ...unit, unit: 'altered' };
    let runs = 0;
    const work = async (ctx: Parameters<Parameters<typeof runStageUnit>[3]>[0]) => {
      runs++;
      await ctx.put('f.txt', 'original');
      return {};
    };
    await runStageUnit(store, altered, noHooks, work);
    const manifest = (await store.getJson<Manifest>(`${stageDir(altered)}/manifest.json`))!;
    await store.put(manifest.files[0]!.key, 'ORIGINAL');
    expect(await checkManifest(store, manifest)).toEqual([`${manifest.files[0]!.key}: its bytes do not match the manifest's sha256`]);
    // A reader of the file (a model, by the next stage) refuses it too.
    await expect(readListedFile(store, manifest.files[0]!.key)).rejects.toThrow(/do not match the sha256/);
    const again = await runStageUnit(store, altered, noHooks, work);
    expect([again.cached, runs]).toEqual([false, 2]);
    expect((await readListedFile(store, manifest.files[0]!.key)).toString()).toBe('original');
  });

  it('recomputes an output whose files went missing', async () => {
    const other = { ...unit, unit: 'other' };
    await runStageUnit(store, other, noHooks, async (ctx) => {
      await ctx.put('f.txt', 'one');
      return {};
    });
    const manifest = (await store.getJson<Manifest>(`${stageDir(other)}/manifest.json`))!;
    await store.client.send(new (await import('@aws-sdk/client-s3')).DeleteObjectCommand({ Bucket: 'artifacts', Key: `team/${manifest.files[0]!.key}` }));
    expect(await checkManifest(store, manifest)).toEqual([`${manifest.files[0]!.key}: listed in the manifest but missing`]);
    const again = await runStageUnit(store, other, noHooks, async (ctx) => {
      await ctx.put('f.txt', 'one');
      return {};
    });
    expect(again.cached).toBe(false);
  });

  it('writes no manifest when the work fails or is cancelled', async () => {
    const failing = { ...unit, unit: 'failing' };
    await expect(runStageUnit(store, failing, noHooks, async (ctx) => {
      await ctx.put('partial.json', '{}');
      throw new Error('boom');
    })).rejects.toThrow('boom');
    expect(await store.get(`${stageDir(failing)}/manifest.json`)).toBeNull();

    const cancelled = { ...unit, unit: 'cancelled' };
    const controller = new AbortController();
    await expect(runStageUnit(store, cancelled, { ...noHooks, signal: controller.signal }, async (ctx) => {
      await ctx.put('partial.json', '{}');
      controller.abort();
      return {};
    })).rejects.toThrow(/cancelled before its manifest/);
    expect(await store.get(`${stageDir(cancelled)}/manifest.json`)).toBeNull();
  });
});

describe('stage times (the demo prints them)', () => {
  it('sums each stage\'s recorded wall seconds over its units, in completion order', async () => {
    const experimentId = 'cmnist/1/0/timed';
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    for (const [stage, unit, ms] of [['trainClassifier', 'vanilla', 120], ['generateBatch', 'b0', 60], ['generateBatch', 'b1', 60]] as const) {
      await runStageUnit(store, { experimentId, stage, version: 1, unit, inputs: {} }, noHooks, async () => {
        await sleep(ms);
        // A generate unit says how long it spent in its model.
        return stage === 'generateBatch' ? { images: 1, modelSeconds: 0.045 } : {};
      });
    }
    const times = await stageTimes(store, experimentId);
    expect(times.map((t) => [t.stage, t.units, t.untimed])).toEqual([['trainClassifier', 1, 0], ['generateBatch', 2, 0]]);
    // Node's timers run on the event loop's millisecond clock, so a 60 ms sleep can measure 59.x ms
    // on performance.now(): allow 1 ms per unit (a run here measured 0.119 for the two 60 ms units).
    expect(times[0]!.seconds).toBeGreaterThanOrEqual(0.119);
    expect(times[1]!.seconds).toBeGreaterThanOrEqual(0.118);
    expect(times[1]!.seconds).toBeLessThan(5);
    // Another experiment's manifests are not counted.
    expect((await stageTimes(store, 'cmnist/1/0/other')).length).toBe(0);
    expect(times[1]!.modelSeconds).toBeCloseTo(0.09, 9);
    expect(times[0]!.modelSeconds).toBeUndefined();
    // The model's share of the units' measured time (under 100%: the units also store their files).
    const share = ((100 * 0.09) / times[1]!.seconds).toFixed(0);
    expect(Number(share)).toBeLessThan(100);
    expect(stageTimeLines(times)[1]).toMatch(new RegExp(`^ {2}generateBatch +0\\.\\d s +\\d+%  2 units \\(${share}% in the model\\)$`));
    // A second experiment with the same units reuses them: counted as reused, adding no time.
    const again = 'cmnist/1/0/again';
    await runStageUnit(store, { experimentId: again, stage: 'trainClassifier', version: 1, unit: 'vanilla', inputs: {} }, noHooks, async () => ({}));
    const reused = await stageTimes(store, again);
    expect(reused.map((t) => [t.stage, t.units, t.reused, t.seconds])).toEqual([['trainClassifier', 1, 1, 0]]);
    expect(stageTimeLines(reused)[0]).toMatch(/1 unit \(1 reused\)$/);
  });
});

