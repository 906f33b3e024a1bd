/**
 * LLaVA-OneVision's "anyres" geometry, as Python transformers 4.57 computes it: which pinpoint
 * resolution an image is tiled at, how it is resized and padded into it, the crop grid, the part
 * of the crops' feature grid that is kept (unpadding back to the image's aspect ratio), the
 * `anyres_max_N` shrink, and so how many `<image>` tokens the prompt gets. Pure numbers, no pixels
 * or tensors: onevision-image.ts makes the views from it, onevision-features.ts packs their
 * features by it. transformers.js 4.3.2 has none of this (its LLaVA-OneVision is plain LLaVA), nor
 * does any other maintained JavaScript library, so it is written out here from
 * transformers' select_best_resolution, get_patch_output_size, LlavaOnevisionImageProcessor,
 * LlavaOnevisionModel.pack_image_features / unpad_image and LlavaOnevisionProcessor's
 * _get_number_of_features, with Python's arithmetic (int() truncation, round(x, 7), float `//`).
 */

/** [height, width], the order transformers uses for sizes and pinpoints. */
export type Size = readonly [number, number];

export interface AnyresSettings {
  /** The vision tower's input side: every view is cropSize x cropSize (the processor's size, config's vision image_size). */
  cropSize: number;
  /** Features per side of one view (image_size / patch_size): a view gives featuresPerSide^2 features. */
  featuresPerSide: number;
  /** image_grid_pinpoints: the resolutions an image may be tiled at, [height, width], multiples of cropSize. */
  pinpoints: readonly Size[];
  /** N of vision_aspect_ratio "anyres_max_N": crops' features beyond about N views' worth are shrunk. */
  maxViews: number;
}

/** Where an image's pixels and features go (all sizes [height, width]). */
export interface AnyresLayout {
  /** The image's own size. */
  image: Size;
  /** The pinpoint it is tiled at. */
  best: Size;
  /** The image resized into `best` keeping its aspect ratio, then padded (centred) to `best`. */
  resized: Size;
  padTop: number;
  padLeft: number;
  /** Crops of cropSize: rows x columns. */
  grid: Size;
  /** The base view (the whole image at cropSize) and the crops, row by row. */
  views: number;
  /** The rows and columns of the crops' feature grid kept by unpadding, and where they start. */
  unpadded: Size;
  unpadTop: number;
  unpadLeft: number;
  /** The kept grid after the anyres_max_N shrink (equal to `unpadded` when none). */
  packed: Size;
  /** `<image>` tokens: the base view's features, the packed grid, one image_newline per packed row. */
  tokens: number;
}

/** Parses "anyres_max_9" (the only form LLaVA-OneVision uses) into 9. */
export function maxViewsOf(visionAspectRatio: string): number {
  const match = /^anyres_max_(\d+)$/.exec(visionAspectRatio);
  if (!match) throw new RangeError(`vision_aspect_ratio "${visionAspectRatio}" is not of the form anyres_max_<N>`);
  return Number(match[1]);
}

/** transformers' select_best_resolution: the pinpoint keeping the most of the image, then wasting the least. */
export function selectBestResolution(image: Size, pinpoints: readonly Size[]): Size {
  const [height, width] = image;
  let best: Size | undefined;
  let maxEffective = 0;
  let minWasted = Infinity;
  for (const [h, w] of pinpoints) {
    const scale = Math.min(w / width, h / height);
    const effective = Math.min(Math.trunc(width * scale) * Math.trunc(height * scale), width * height);
    const wasted = w * h - effective;
    if (effective > maxEffective || (effective === maxEffective && wasted < minWasted)) {
      maxEffective = effective;
      minWasted = wasted;
      best = [h, w];
    }
  }
  if (!best) throw new RangeError(`no pinpoint fits an image of ${width}x${height}`);
  return best;
}

/** transformers' get_patch_output_size: `image` resized to fit inside `target`, keeping its aspect ratio. */
export function fitInside(image: Size, target: Size): Size {
  const [height, width] = image;
  const [th, tw] = target;
  const scaleW = tw / width;
  const scaleH = th / height;
  return scaleW < scaleH ? [Math.min(Math.ceil(height * scaleW), th), tw] : [th, Math.min(Math.ceil(width * scaleH), tw)];
}

/**
 * Python's int(round(x, 7)) for x >= 0. toFixed rounds exact halves up where Python rounds them to
 * even, but a half at the 8th decimal is never within 5e-8 of an integer, so the integer kept is the same.
 */
function truncRound7(x: number): number {
  return Math.trunc(Number(x.toFixed(7)));
}

/** Python's float floor division a // b (CPython's float_floor_div), for a, b > 0. */
export function pyFloorDiv(a: number, b: number): number {
  const mod = a % b;
  const div = (a - mod) / b;
  const floor = Math.floor(div);
  return div - floor > 0.5 ? floor + 1 : floor;
}

/** transformers' unpad_image on a rows x cols feature grid: the rows (or columns) kept, and where they start. */
function unpad(image: Size, rows: number, cols: number): { kept: Size; top: number; left: number } {
  const [height, width] = image;
  if (width / height > cols / rows) {
    const newHeight = truncRound7(height * (cols / width));
    const padding = Math.floor((rows - newHeight) / 2);
    return { kept: [rows - 2 * padding, cols], top: padding, left: 0 };
  }
  const newWidth = truncRound7(width * (rows / height));
  const padding = Math.floor((cols - newWidth) / 2);
  return { kept: [rows, cols - 2 * padding], top: 0, left: padding };
}

/** The whole anyres layout of an image of `image` = [height, width] pixels. */
export function anyresLayout(settings: AnyresSettings, image: Size): AnyresLayout {
  const { cropSize, featuresPerSide: side, maxViews } = settings;
  const [height, width] = image;
  if (!(height >= 1 && width >= 1)) throw new RangeError(`image size ${width}x${height}`);
  const best = selectBestResolution(image, settings.pinpoints);
  const resized = fitInside(image, best);
  const grid: Size = [Math.floor(best[0] / cropSize), Math.floor(best[1] / cropSize)];
  // image_size_to_num_patches counts crops by stepping through the pinpoint: ceil, where the grid floors.
  const views = Math.ceil(best[0] / cropSize) * Math.ceil(best[1] / cropSize) + 1;
  const { kept, top, left } = unpad(image, grid[0] * side, grid[1] * side);
  const ratio = Math.sqrt((kept[0] * kept[1]) / (maxViews * side * side));
  const packed: Size = ratio > 1.1 ? [Math.trunc(pyFloorDiv(kept[0], ratio)), Math.trunc(pyFloorDiv(kept[1], ratio))] : kept;
  return {
    image,
    best,
    resized,
    padTop: Math.floor((best[0] - resized[0]) / 2),
    padLeft: Math.floor((best[1] - resized[1]) / 2),
    grid,
    views,
    unpadded: kept,
    unpadTop: top,
    unpadLeft: left,
    packed,
    tokens: side * side + packed[0] * (packed[1] + 1),
  };
}
