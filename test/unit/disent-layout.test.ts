import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { listSplit, parseSampleName } from '../../datasets/disent/layout';
import { decodeRgb } from '../../datasets/disent/images';
import { SplitReader } from '../../datasets/disent/reader';
import { openDataSource, readFileAt, withDataSource } from '../../core/data-source';
import { BadInputError } from '../../core/errors';
import { MAX_IMAGE_BYTES } from '../../core/image-limits';

let root: string;
let png: Buffer;

function put(path: string, body: Buffer | string) {
  mkdirSync(join(root, path, '..'), { recursive: true });
  writeFileSync(join(root, path), body);
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'disent-'));
  png = await sharp({ create: { width: 4, height: 4, channels: 3, background: { r: 255, g: 0, b: 0 } } }).png().toBuffer();
  put('cmnist/1pct/align/3/0_3_3.png', png);
  put('cmnist/1pct/conflict/3/1_3_7.png', png);
  put('cmnist/valid/align/3/0_3_3.png', png);
  put('cmnist/test/conflict/3/0_3_1.png', png);
  // A dataset with every kind of bad input, one split each.
  put('bad/1pct/align/1/0_1_1.png', png);
  put('bad/1pct/conflict/1/7_x.png', png);
  put('bad/test/1/0_12_1.png', png);
  put('bad/valid/1/0_1_1.png', 'not an image at all');
});

async function failure(p: Promise<unknown>): Promise<BadInputError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(BadInputError);
  return err as BadInputError;
}

describe('DisEnt layout', () => {
  it('parses <idx>_<label>_<bias>.<ext>: label and bias are the last two fields', () => {
    expect(parseSampleName('a/12_3_7.png', 10)).toEqual({ path: 'a/12_3_7.png', label: 3, bias: 7 });
    expect(parseSampleName('a/img_00012_1_0.jpg', 2)).toMatchObject({ label: 1, bias: 0 });
  });

  it('lists train (align + conflict), valid and test', async () => {
    const source = openDataSource(root);
    const train = await listSplit(source, 'cmnist', 1, 'train', 10);
    expect(train.samples.map((s) => [s.label, s.bias])).toEqual([[3, 3], [3, 7]]);
    expect((await listSplit(source, 'cmnist', 1, 'valid', 10)).samples).toHaveLength(1);
    expect((await listSplit(source, 'cmnist', 1, 'test', 10)).samples[0]).toMatchObject({ label: 3, bias: 1 });
  });

  it('a missing folder fails naming it', async () => {
    const err = await failure(listSplit(openDataSource(root), 'cmnist', 5, 'train', 10));
    expect(err.message).toContain(join(root, 'cmnist/5pct/align'));
  });

  it('a file name not of the form <idx>_<label>_<bias> fails naming the file, or is skipped and counted', async () => {
    const source = openDataSource(root);
    const err = await failure(listSplit(source, 'bad', 1, 'train', 2));
    expect(err.message).toBe(`${join(root, 'bad/1pct/conflict/1/7_x.png')}: file name not of the form <idx>_<label>_<bias>.<ext>`);
    const skipping = await listSplit(source, 'bad', 1, 'train', 2, { skipInvalid: true });
    expect(skipping.samples).toHaveLength(1);
    expect(skipping.skipped).toEqual([{ path: join(root, 'bad/1pct/conflict/1/7_x.png'), reason: expect.stringContaining('file name not of the form') }]);
  });

  it('a label out of range fails naming the file', async () => {
    const err = await failure(listSplit(openDataSource(root), 'bad', 1, 'test', 2));
    expect(err.message).toBe(`${join(root, 'bad/test/1/0_12_1.png')}: label 12 out of range 0..1`);
  });

  it('a corrupt image fails naming the file when it is read', async () => {
    const source = openDataSource(root);
    const { samples } = await listSplit(source, 'bad', 1, 'valid', 2);
    const reader = new SplitReader(samples.map((s) => ({ location: source.describe(s.path), label: s.label, bias: s.bias, load: () => source.read(s.path) })), { imageSize: 4 });
    const err = await failure(reader.batches({ batchSize: 4 }).next());
    expect(err.message).toMatch(new RegExp(`^${join(root, 'bad/valid/1/0_1_1.png')}: not a readable image`));
  });

  it('decodes, resizes and batches in order, scaled to [0, 1]', async () => {
    const source = openDataSource(root);
    const { samples } = await listSplit(source, 'cmnist', 1, 'train', 10);
    const reader = new SplitReader(samples.map((s) => ({ location: s.path, label: s.label, bias: s.bias, load: () => source.read(s.path) })), { imageSize: 2 });
    const batch = (await reader.batches({ batchSize: 8 }).next()).value!;
    expect(batch.size).toBe(2);
    expect(Array.from(batch.labels)).toEqual([3, 3]);
    expect(Array.from(batch.x.slice(0, 3))).toEqual([1, 0, 0]);
  });

  it('extend: the split then the extra items, without decoding the split again', async () => {
    const source = openDataSource(root);
    const { samples } = await listSplit(source, 'cmnist', 1, 'train', 10);
    let loads = 0;
    const items = samples.map((s) => ({ location: s.path, label: s.label, bias: s.bias, load: () => { loads++; return source.read(s.path); } }));
    const reader = new SplitReader(items, { imageSize: 4 });
    for await (const _ of reader.batches({ batchSize: 8 })) { /* decode once */ }
    expect(loads).toBe(2);
    const extra = { location: 'generated.png', label: 5, bias: 5, load: async () => png };
    const extended = reader.extend([extra]);
    const batch = (await extended.batches({ batchSize: 8 }).next()).value!;
    expect(Array.from(batch.labels)).toEqual([3, 3, 5]);
    expect(loads).toBe(2);
    expect(reader.size).toBe(2);
  });

  it('an item listed more than once (generated images repeated per epoch) is loaded and decoded once', async () => {
    let loads = 0;
    const extra = { location: 'generated.png', label: 5, bias: 5, load: async () => { loads++; return png; } };
    const reader = new SplitReader([], { imageSize: 4 }).extend([extra, extra, extra]);
    for (let pass = 0; pass < 2; pass++) {
      const batches = [];
      for await (const batch of reader.batches({ batchSize: 2, shuffleSeed: pass })) batches.push(batch);
      expect(batches.map((b) => b.size)).toEqual([2, 1]);
      expect(Array.from(batches[0]!.x.subarray(0, 3))).toEqual(Array.from(batches[1]!.x.subarray(0, 3)));
    }
    expect(loads).toBe(1);
  });
});

describe('decodeRgb', () => {
  // The JavaScript path (8-bit RGB PNG at the size asked for) and sharp's must give the same bytes.
  const pixels = Buffer.from(Array.from({ length: 28 * 28 * 3 }, (_, i) => (i * 37) % 256));
  const raw = { raw: { width: 28, height: 28, channels: 3 as const } };

  it('an RGB PNG at size gives its pixels exactly', async () => {
    const bytes = await sharp(pixels, raw).png().toBuffer();
    expect(Buffer.from(await decodeRgb(bytes, 28, 'a.png')).equals(pixels)).toBe(true);
  });

  it('other PNGs (RGBA, palette, another size) and JPEGs go through sharp, as before', async () => {
    const sharpRgb = async (bytes: Buffer, size: number) => {
      const { data, info } = await sharp(bytes).resize(size, size, { fit: 'fill' }).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
      expect(info.channels).toBe(3);
      return data;
    };
    const cases: [string, Buffer, number][] = [
      ['rgba', await sharp(pixels, raw).ensureAlpha().png().toBuffer(), 28],
      ['palette', await sharp(pixels, raw).png({ palette: true }).toBuffer(), 28],
      ['resized', await sharp(pixels, raw).png().toBuffer(), 14],
      ['jpeg', await sharp(pixels, raw).jpeg().toBuffer(), 28],
    ];
    for (const [name, bytes, size] of cases) {
      expect(Buffer.from(await decodeRgb(bytes, size, name)).equals(await sharpRgb(bytes, size)), name).toBe(true);
    }
  });

  it('refuses, before decoding, an image over the pixel limit (a small file can declare gigapixels) or over the size cap', async () => {
    const bomb = await sharp({ create: { width: 8000, height: 6000, channels: 3, background: 'black' } }).png({ compressionLevel: 9 }).toBuffer();
    expect(bomb.byteLength).toBeLessThan(1024 * 1024);
    const err = await failure(decodeRgb(bomb, 28, 'bomb.png'));
    expect(err).toBeInstanceOf(BadInputError);
    expect(err.message).toMatch(/bomb\.png: not a readable image \(.*pixel limit/);
    const huge = await failure(decodeRgb(Buffer.alloc(MAX_IMAGE_BYTES + 1), 28, 'huge.png'));
    expect(huge.message).toContain('huge.png: 67108865 bytes, over the 64 MiB limit');
  });

  it('a truncated PNG fails naming the file', async () => {
    const bytes = await sharp(pixels, raw).png().toBuffer();
    const err = await failure(decodeRgb(bytes.subarray(0, 40), 28, 'broken.png'));
    expect(err.message).toContain('broken.png');
  });
});


describe('data sources opened for one read', () => {
  it('readFileAt reads a file named by its full path, and refuses a folder by name', async () => {
    put('single/7_7_2.png', png);
    expect(await readFileAt(join(root, 'single/7_7_2.png'), undefined)).toEqual(png);
    await expect(readFileAt(join(root, 'single/'), undefined)).rejects.toThrow(`${join(root, 'single/')}: names a folder, not a file`);
    await expect(readFileAt(join(root, 'single/none.png'), undefined)).rejects.toThrow(/none\.png: cannot read \(ENOENT\)/);
  });

  it('withDataSource hands back what its body returns or throws', async () => {
    expect(await withDataSource(root, undefined, async (s) => s.root)).toBe(root);
    await expect(withDataSource(root, undefined, async () => { throw new BadInputError('x', 'y'); })).rejects.toThrow('x: y');
  });
});
