import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { syntheticItems } from './synthetic-images';

/**
 * A small dataset in the DisEnt layout under the name cmnist (28 px, 10 classes, ratio 1):
 * 80 train images (every 8th bias-conflicting), 30 valid, 30 test (every 2nd conflicting).
 */
export async function writeSyntheticCmnist(root: string): Promise<void> {
  const splits: [string, number, number, number | undefined][] = [['1pct', 80, 1, 8], ['valid', 30, 2, 2], ['test', 30, 3, 2]];
  for (const [split, n, seed, conflictEvery] of splits) {
    for (const item of await syntheticItems(n, { classes: 10, size: 28, seed, conflictEvery })) {
      const group = item.label === item.bias ? 'align' : 'conflict';
      const dir = join(root, 'cmnist', split, group, String(item.label));
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, item.location.slice(item.location.lastIndexOf('/') + 1)), await item.load());
    }
  }
}
