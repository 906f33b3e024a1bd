import { describe, expect, it } from 'vitest';
import { devTrainProcesses } from '../../cli/commands/dev';

describe('DIFFUBIAS_DEV_TRAIN_PROCESSES', () => {
  it('defaults to the one process that serves every queue, takes 1 to 8, and names itself when wrong', () => {
    expect(devTrainProcesses({})).toBe(1);
    expect(devTrainProcesses({ DIFFUBIAS_DEV_TRAIN_PROCESSES: '' })).toBe(1);
    expect(devTrainProcesses({ DIFFUBIAS_DEV_TRAIN_PROCESSES: '2' })).toBe(2);
    for (const bad of ['0', '9', '1.5', 'two']) {
      expect(() => devTrainProcesses({ DIFFUBIAS_DEV_TRAIN_PROCESSES: bad })).toThrow(/DIFFUBIAS_DEV_TRAIN_PROCESSES: expected a whole number from 1 to 8/);
    }
  });
});
