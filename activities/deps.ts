import type { ArtifactStore } from '../core/store';
import type { EnergyMeter } from '../core/energy-meter';
import type { StageVersions } from '../stages/activity-table';
import type { Engines } from '../stages/activity-table';

/** What the activities of one worker process share: the artifact store, the engines, the energy meter. */
export interface ActivityDeps {
  store: ArtifactStore;
  engines: Partial<Engines>;
  /** Default: the process's meter under the power model from the environment. */
  meter?: EnergyMeter;
  /** Each stage's code version; default: the code's own (STAGE_VERSIONS). Tests bump one to see what recomputes. */
  versions?: StageVersions;
}
