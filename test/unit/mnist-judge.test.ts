import { describe, expect, it } from 'vitest';
import { initBackend } from '../../engines/classifier/backend';
import { loadMnist } from '../../datasets/cmnist/idx';
import { judgeView, mnistSource, trainJudge } from '../../stages/mnist-judge';

describe('the grayscale MNIST judge of generated digits', () => {
  it('reads intensity, not colour: a dim blue digit and a bright red one look the same', () => {
    const blue = new Float32Array(28 * 28 * 3);
    const red = new Float32Array(28 * 28 * 3);
    for (const p of [100, 101, 129]) { blue[p * 3 + 2] = 0.4; red[p * 3] = 1; }
    blue[130 * 3 + 2] = 0.2;
    red[130 * 3] = 0.5;
    expect(judgeView(blue, 1)).toEqual(judgeView(red, 1));
    expect(judgeView(red, 1)[130 * 3 + 1]).toBeCloseTo(0.5, 6);
  });

  it('sees MNIST exactly as judgeView sees the same digits in three channels', async () => {
    const test = loadMnist('test');
    const batch = (await mnistSource(test, 64).batches({ batchSize: 64 })[Symbol.asyncIterator]().next()).value!;
    const rgb = new Float32Array(64 * 28 * 28 * 3);
    for (let i = 0; i < rgb.length; i++) rgb[i] = test.pixels[Math.floor(i / 3)]! / 255;
    expect(batch.x).toEqual(judgeView(rgb, 64));
    expect(Array.from(batch.labels)).toEqual(Array.from(test.labels.subarray(0, 64)));
  });

  it('trains in seconds to above 95% on MNIST test', async () => {
    const judge = await trainJudge(await initBackend());
    expect(judge.testAccuracy).toBeGreaterThan(95);
    judge.model.dispose();
  }, 120_000);
});
