/**
 * The anyres settings of a LLaVA-OneVision bundle, read from its JSON files: the crop size and
 * features per view (config.json's vision_config), image_grid_pinpoints, vision_aspect_ratio, the
 * normalisation (preprocessor_config.json) and the image token (processor_config.json). Python
 * reads the processor's from preprocessor_config.json / processor_config.json and the model's from
 * config.json; one geometry serves both here, so a bundle where they disagree is refused (the
 * hub's agree), naming the file.
 */
import type { LocalBundle } from '../../core/bundle-store';
import { BadInputError } from '../../core/errors';
import { readBundleJson } from './bundle';
import { maxViewsOf, type AnyresSettings, type Size } from './anyres';
import type { Normalisation } from './onevision-image';

export interface OnevisionSettings {
  anyres: AnyresSettings;
  norm: Normalisation;
  /** The prompt's image placeholder ("<image>"), expanded to an image's token count. */
  imageToken: string;
}

interface ModelConfig {
  image_grid_pinpoints?: number[][];
  vision_aspect_ratio?: string;
  vision_config?: { image_size?: number; patch_size?: number };
}
interface PreprocessorConfig {
  size?: { height?: number; width?: number; shortest_edge?: number };
  image_grid_pinpoints?: number[][];
  resample?: number;
  do_rescale?: boolean;
  rescale_factor?: number;
  do_normalize?: boolean;
  image_mean?: number[];
  image_std?: number[];
}
interface ProcessorConfig {
  image_token?: string;
  num_image_tokens?: number;
  vision_feature_select_strategy?: string | null;
  vision_aspect_ratio?: string;
}

const PIL_BICUBIC = 3;
const samePinpoints = (a: readonly Size[], b: readonly Size[]): boolean => JSON.stringify(a) === JSON.stringify(b);

/** The anyres settings of a OneVision bundle (see above). */
export async function readOnevisionSettings(bundle: LocalBundle): Promise<OnevisionSettings> {
  const [config, pre, proc] = await Promise.all([
    readBundleJson<ModelConfig>(bundle, 'config.json'),
    readBundleJson<PreprocessorConfig>(bundle, 'preprocessor_config.json'),
    readBundleJson<ProcessorConfig>(bundle, 'processor_config.json'),
  ]);
  const bad = (file: string, message: string): BadInputError => new BadInputError(bundle.describe(file), message);
  const imageSize = config.vision_config?.image_size ?? 384;
  const patchSize = config.vision_config?.patch_size ?? 14;
  // Python's size tuple: (height, width), or (shortest_edge, shortest_edge); the crop is its height.
  const cropSize = pre.size?.height ?? pre.size?.shortest_edge;
  if (cropSize !== imageSize || (pre.size?.width !== undefined && pre.size.width !== cropSize)) {
    throw bad('preprocessor_config.json', `size ${JSON.stringify(pre.size)} is not the vision tower's ${imageSize} x ${imageSize}`);
  }
  const pinpoints = (config.image_grid_pinpoints ?? []).map(([h, w]) => [h, w] as Size);
  if (pinpoints.length === 0) throw bad('config.json', 'no image_grid_pinpoints');
  if (!samePinpoints(pinpoints, (pre.image_grid_pinpoints ?? []).map(([h, w]) => [h, w] as Size))) {
    throw bad('preprocessor_config.json', 'image_grid_pinpoints differ from config.json\'s');
  }
  if (pinpoints.some(([h, w]) => !(h! % cropSize === 0 && w! % cropSize === 0 && h! > 0 && w! > 0))) {
    throw bad('config.json', `image_grid_pinpoints must be multiples of the crop size ${cropSize}`);
  }
  const aspect = config.vision_aspect_ratio ?? 'anyres_max_9';
  if ((proc.vision_aspect_ratio ?? 'anyres_max_9') !== aspect) throw bad('processor_config.json', `vision_aspect_ratio differs from config.json's "${aspect}"`);
  let maxViews: number;
  try {
    maxViews = maxViewsOf(aspect);
  } catch (err) {
    throw bad('config.json', (err as Error).message);
  }
  const side = Math.floor(imageSize / patchSize);
  // The processor's base-view count: num_image_tokens, less the CLS token under strategy "default".
  const base = (proc.num_image_tokens ?? NaN) - (proc.vision_feature_select_strategy === 'default' ? 1 : 0);
  if (base !== side * side || Math.floor(Math.sqrt(proc.num_image_tokens!)) !== side) {
    throw bad('processor_config.json', `num_image_tokens ${proc.num_image_tokens} does not match ${side} x ${side} features per view`);
  }
  if ((pre.resample ?? PIL_BICUBIC) !== PIL_BICUBIC) throw bad('preprocessor_config.json', `resample ${pre.resample}: only bicubic (3) is implemented`);
  const mean = pre.do_normalize === false ? [0, 0, 0] : (pre.image_mean ?? [0.48145466, 0.4578275, 0.40821073]);
  const std = pre.do_normalize === false ? [1, 1, 1] : (pre.image_std ?? [0.26862954, 0.26130258, 0.27577711]);
  if (mean.length !== 3 || std.length !== 3) throw bad('preprocessor_config.json', 'image_mean and image_std need 3 values');
  return {
    anyres: { cropSize, featuresPerSide: side, pinpoints, maxViews },
    norm: {
      rescale: pre.do_rescale === false ? 1 : (pre.rescale_factor ?? 1 / 255),
      mean: [mean[0]!, mean[1]!, mean[2]!],
      std: [std[0]!, std[1]!, std[2]!],
    },
    imageToken: proc.image_token ?? '<image>',
  };
}
