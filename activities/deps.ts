import type { ArtifactStore } from '../core/store';
import type { EnergyMeter } from '../core/energy-meter';
import type { Engines } from '../stages/stage-engines';

/** What the activities of one worker process share: the artifact store, the engines, the energy meter. */
export interface ActivityDeps {
  store: ArtifactStore;
  engines: Partial<Engines>;
  /** Default: the process's meter under the power model from the environment. */
  meter?: EnergyMeter;
}
