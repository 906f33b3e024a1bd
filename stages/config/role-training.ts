import type { ClassifierRole } from '../contracts';
import type { ClassifierTrainConfig, TrainConfig } from './schema';

/** What one classifier trains with: f_B's own length where `train.biasedEpochs` sets one. Pure: workflows call it. */
export function roleTraining(train: TrainConfig, role: ClassifierRole): ClassifierTrainConfig {
  const { biasedEpochs, debiasedInit: _, ...shared } = train;
  return role === 'biased' && biasedEpochs !== undefined ? { ...shared, epochs: biasedEpochs } : shared;
}
