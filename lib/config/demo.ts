import type { ExperimentConfig } from './schema';
import { parseExperimentConfig } from './schema';

/**
 * `npm run demo`: Colored MNIST with the shipped demo bundles, sized to finish in well under
 * 15 minutes on 2 cores (5 epochs instead of the paper's 50, 1,500 generated images).
 */
export function demoConfig(ratio: number, seed: number, overrides: Record<string, unknown> = {}): ExperimentConfig {
  return parseExperimentConfig({
    dataset: 'cmnist',
    ratio,
    seed,
    train: { epochs: 5, batchSize: 256, lr: 1e-3 },
    topK: { k: 100, mode: 'global', score: 'ce' },
    caption: { model: 'models/demo/captioner', perImage: 3, strategy: 'beam', concurrency: 4 },
    generate: { model: 'models/demo/generator', images: 1500, batchSize: 50, steps: 25, guidance: 5, concurrency: 1 },
    ...overrides,
  });
}
