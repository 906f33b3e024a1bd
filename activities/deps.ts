import type { ArtifactStore } from '../core/store';
import type { Engines } from '../stages/stage-engines';

/** What the activities of one worker process share: the artifact store and the engines. */
export interface ActivityDeps {
  store: ArtifactStore;
  engines: Partial<Engines>;
}
