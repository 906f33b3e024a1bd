/**
 * Limits on every image this project decodes, whoever supplies it (a dataset, a generated batch,
 * a bucket someone else writes to): a small file can declare gigapixels ("decompression bomb"),
 * and sharp's own default allows 268 megapixels. Far above any dataset here (BAR's largest
 * photos are a few megapixels), far below what would exhaust a worker's memory.
 */
export const MAX_IMAGE_BYTES = 64 * 1024 * 1024;
export const MAX_INPUT_PIXELS = 40_000_000;

/** Why `bytes` must not be decoded, or undefined when it may be. */
export function imageSizeProblem(bytes: Uint8Array): string | undefined {
  if (bytes.byteLength > MAX_IMAGE_BYTES) return `${bytes.byteLength} bytes, over the ${MAX_IMAGE_BYTES / 1024 / 1024} MiB limit for an image`;
  return undefined;
}
