/**
 * Runs the MLP's native training steps under whatever flags the parent gave node (the test passes
 * `--cpu-prof`) and prints `ok <backend>` when 300 steps of each went through: SGD's op-by-op step
 * (dense-stack.ts) and Adam's one-graph step (dense-graph-step.ts).
 */
import { initBackend } from '../../engines/classifier/backend';
import { buildModel } from '../../engines/classifier/models';
import { createTrainStep } from '../../engines/classifier/train-step';

(async () => {
  const backend = await initBackend();
  const x = Float32Array.from({ length: 256 * 28 * 28 * 3 }, (_, i) => (i % 97) / 97);
  const labels = Int32Array.from({ length: 256 }, (_, i) => i % 10);
  for (const optimizer of ['sgd', 'adam'] as const) {
    const model = buildModel({ arch: 'mlp', numClasses: 10, inputShape: [28, 28, 3], seed: 0 });
    const step = await createTrainStep(model, { loss: 'gce', gceQ: 0.7, lr: 1e-3, optimizer }, backend);
    for (let i = 0; i < 300; i++) step.run(x, labels, 256).dispose();
    step.dispose();
    model.dispose();
  }
  console.log(`ok ${backend}`);
})();
