import { describe, expect, it } from 'vitest';
import { PassThrough } from 'node:stream';
import { progressView, unitBars } from '../../cli/progress-bars';
import { formatSeconds } from '../../cli/durations';
import type { Snapshot } from '../../cli/progress';

const progress = (stage: string, done = 0, total = 0) => ({ stage, stagesDone: ['prepareDataset'], done, total, paused: false, children: [] });

describe('progress bars', () => {
  it('one bar per running unit: a training over all its epochs, a fan-out by its count', () => {
    const training: Snapshot = {
      workflowId: 'diffubias/cmnist/1/0/x', status: 'RUNNING', progress: progress('trainClassifier'),
      activities: [
        { type: 'trainClassifier', attempt: 1, details: { unit: 'biased', epoch: 3, epochs: 5, step: 50, total: 215, validAccuracy: 19.5 } },
        { type: 'trainClassifier', attempt: 2, details: { unit: 'vanilla', epoch: 1, epochs: 5, step: 10, total: 215 } },
        { type: 'scoreLosses', attempt: 1 },
      ],
    };
    expect(unitBars(training)).toEqual([
      { key: 'trainClassifier:biased', name: 'trainClassifier biased', value: 2 * 215 + 50, total: 5 * 215, detail: 'epoch 3/5, valid 19.5%' },
      { key: 'trainClassifier:vanilla', name: 'trainClassifier vanilla (attempt 2)', value: 10, total: 5 * 215, detail: 'epoch 1/5' },
    ]);
    const captions: Snapshot = {
      workflowId: 'w', status: 'RUNNING', progress: progress('captionImage'), child: { ...progress('captionImage', 7, 40), workflowId: 'w/captionImage-0' },
      activities: [],
    };
    expect(unitBars(captions)).toEqual([{ key: 'captionImage:all', name: 'captionImage (all)', value: 7, total: 40, detail: '7/40 done' }]);
  });

  it('off a terminal: the plain status line, once per change', () => {
    const stream = Object.assign(new PassThrough(), { isTTY: false }) as unknown as NodeJS.WriteStream;
    const lines: string[] = [];
    const view = progressView(stream, (l) => lines.push(l));
    const s: Snapshot = { workflowId: 'w', status: 'RUNNING', progress: progress('selectTopK'), activities: [] };
    view.update(s);
    view.update(s);
    view.stop();
    expect(lines).toEqual(['w: stage selectTopK']);
  });

  it('in a terminal: draws bars with names, counts and ETA', () => {
    const stream = Object.assign(new PassThrough(), { isTTY: true, columns: 160, cursorTo: () => true, clearLine: () => true, moveCursor: () => true }) as unknown as NodeJS.WriteStream;
    let drawn = '';
    (stream as unknown as PassThrough).on('data', (c: Buffer) => { drawn += c.toString(); });
    const view = progressView(stream, () => {});
    view.update({
      workflowId: 'w', status: 'RUNNING', progress: progress('trainClassifier'),
      activities: [{ type: 'trainClassifier', attempt: 1, details: { unit: 'biased', epoch: 2, epochs: 4, step: 1, total: 2 } }],
    });
    view.stop();
    expect(drawn).toContain('trainClassifier biased');
    expect(drawn).toContain('epoch 2/4');
    expect(drawn).toContain('37%');
    expect(drawn).toContain('ETA ?');
  });

  it('formats an ETA', () => {
    expect([formatSeconds(42.4), formatSeconds(61), formatSeconds(3 * 3600 + 5 * 60)]).toEqual(['42s', '1m01s', '3h05m']);
  });
});
