import { describe, expect, it } from 'vitest';
import { planReproduction, reproductionConfig } from '../../cli/commands/reproduce';
import { formatSnapshot } from '../../cli/progress';

describe('reproduce: the sweep it plans', () => {
  it("Colored MNIST: the paper's four ratios x seeds, per-class top-K that scales with the ratio", () => {
    const plan = planReproduction({ dataset: 'cmnist', seeds: [0, 1, 2], parallelism: 1, budget: 'demo' });
    expect(plan.cells).toHaveLength(12);
    expect(plan.cells.map((c) => c.input.config.ratio)).toEqual([0.5, 0.5, 0.5, 1, 1, 1, 2, 2, 2, 5, 5, 5]);
    expect([...new Set(plan.cells.map((c) => c.input.config.topK.k))]).toEqual([25, 50, 100, 250]);
    expect(plan.cells.every((c) => c.input.config.topK.mode === 'per-class')).toBe(true);
    // The same plan is the same sweep: re-running the command attaches to it.
    expect(planReproduction({ dataset: 'cmnist', seeds: [0, 1, 2], parallelism: 1, budget: 'demo' }).sweepId).toBe(plan.sweepId);
  });

  it("the paper budget: 50 epochs, as many generated images as bias-aligned ones, f_B and the others as trained", () => {
    const c = reproductionConfig('cmnist', 1, 0, { budget: 'paper' });
    expect(c.train.epochs).toBe(50);
    expect(c.generate.images).toBe('aligned');
    expect(c.selection).toMatchObject({ biased: 'last', classifiers: 'last' });
    const cifar = reproductionConfig('cifar10c', 1, 0, { budget: 'paper' });
    expect(cifar.topK).toMatchObject({ k: 100, mode: 'global' });
    expect(cifar.train).toMatchObject({ batchSize: 256, lrDecay: { every: 20, factor: 0.5 } });
    expect(() => reproductionConfig('bar', 1, 0, { budget: 'demo' })).toThrow(/demo bundles are for Colored MNIST/);
  });

  it('the paper budget has two recipes: the paper as written, and the one chosen on validation; they are two sweeps', () => {
    const paper = reproductionConfig('cmnist', 1, 0, { budget: 'paper', recipe: 'paper' });
    const chosen = reproductionConfig('cmnist', 1, 0, { budget: 'paper', recipe: 'chosen' });
    expect(paper.train.biasedEpochs).toBeUndefined();
    expect(chosen.train).toMatchObject({ epochs: 50, biasedEpochs: 2 });
    expect(chosen.topK).toEqual(paper.topK);
    expect(reproductionConfig('cmnist', 1, 0, { budget: 'paper' })).toEqual(paper);
    const plan = (recipe: 'paper' | 'chosen') => planReproduction({ dataset: 'cmnist', seeds: [0], parallelism: 1, budget: 'paper', recipe });
    expect(plan('chosen').sweepId).not.toBe(plan('paper').sweepId);
  });

  it("the peers' protocol: LfF's Colored MNIST, the extra /255, LfF's MLP, 100 epochs, last epoch, vanilla alone; its own sweep", () => {
    const peers = reproductionConfig('cmnist', 0.5, 2, { budget: 'paper', protocol: 'peers' });
    expect(peers).toMatchObject({ dataset: 'cmnist-lff', ratio: 0.5, seed: 2, vanilla: 'only', train: { epochs: 100, batchSize: 256, lr: 1e-3 } });
    expect(peers.classifier).toMatchObject({ normalize: 'divide-255', arch: 'mlp', init: 'torch' });
    expect(peers.selection.classifiers).toBe('last');
    // The recipe is the method's: it changes nothing in a vanilla-only cell.
    expect(reproductionConfig('cmnist', 0.5, 2, { budget: 'paper', protocol: 'peers', recipe: 'chosen' })).toEqual(peers);
    const plan = planReproduction({ dataset: 'cmnist', seeds: [0, 1, 2], parallelism: 1, budget: 'paper', protocol: 'peers' });
    expect(plan.cells.map((c) => [c.input.config.dataset, c.input.config.ratio])).toHaveLength(12);
    expect(plan.sweepId).not.toBe(planReproduction({ dataset: 'cmnist', seeds: [0, 1, 2], parallelism: 1, budget: 'paper' }).sweepId);
    expect(() => reproductionConfig('bar', 1, 0, { budget: 'paper', protocol: 'peers' })).toThrow(/defined for cmnist/);
    expect(() => reproductionConfig('cmnist', 1, 0, { budget: 'demo', protocol: 'peers' })).toThrow(/use --budget paper/);
  });

  it('sweep progress names each running experiment and its stage', () => {
    const line = formatSnapshot({
      workflowId: 'diffubias-sweep/abc', status: 'RUNNING', activities: [],
      progress: { stage: 'experiments', stagesDone: [], done: 3, total: 12, paused: false, children: [] },
      experiments: [
        { workflowId: 'diffubias/cmnist/1/2/aaa', stage: 'generateBatch', stagesDone: [], done: 10, total: 45, paused: false, children: [] },
        { workflowId: 'diffubias/cmnist/2/0/bbb', stage: 'trainClassifier', stagesDone: [], done: 0, total: 0, paused: false, children: [] },
      ],
    });
    expect(line).toBe('diffubias-sweep/abc: experiments 3/12 done | cmnist 1% seed 2: generateBatch 10/45 | cmnist 2% seed 0: trainClassifier');
  });
});
