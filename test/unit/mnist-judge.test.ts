import { describe, expect, it } from 'vitest';
import { initBackend } from '../../engines/classifier/backend';
import { judgeView, trainJudge } from '../../stages/mnist-judge';

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

  it('trains in seconds to above 95% on MNIST test', async () => {
    const judge = await trainJudge(await initBackend());
    expect(judge.testAccuracy).toBeGreaterThan(95);
    judge.model.dispose();
  }, 120_000);
});
