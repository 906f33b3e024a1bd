import type * as ort from 'onnxruntime-node';
import { BadInputError } from '../../core/errors';
import { inputSpecs, type InputSpec } from '../onnx/io';
import type { SdBundle } from './bundle';

/** The unet's inputs as this export names and types them (exporters differ); `timestep_cond` for LCM-style guidance embedding. */
export interface UnetInputs {
  sample: InputSpec;
  timestep: InputSpec;
  hidden: InputSpec;
  cond?: InputSpec;
  condDim: number;
  /** SDXL's added conditions: the pooled text embedding and the six size/crop numbers. */
  textEmbeds?: InputSpec;
  timeIds?: InputSpec;
}

export function unetInputs(session: ort.InferenceSession, bundle: SdBundle): UnetInputs {
  const where = bundle.describe('unet/model.onnx');
  const specs = inputSpecs(session, where);
  const pick = (names: string[], what: string): InputSpec => {
    for (const n of names) {
      const s = specs.get(n);
      if (s) return s;
    }
    throw new BadInputError(where, `no ${what} input (looked for ${names.join(', ')}; it has ${[...specs.keys()].join(', ')})`);
  };
  const sample = pick(['sample', 'latent_model_input', 'x'], 'latent sample');
  const timestep = pick(['timestep', 'timesteps', 't'], 'timestep');
  const hidden = pick(['encoder_hidden_states', 'encoder_hidden_state', 'context'], 'text embedding');
  const cond = specs.get('timestep_cond');
  const textEmbeds = specs.get('text_embeds');
  const timeIds = specs.get('time_ids');
  if (Boolean(textEmbeds) !== Boolean(timeIds)) throw new BadInputError(where, 'an SDXL unet takes both text_embeds and time_ids; this one has only one of them');
  if (textEmbeds && !bundle.second) throw new BadInputError(where, 'an SDXL unet (text_embeds, time_ids) needs the second text encoder (text_encoder_2/, tokenizer_2/), which the bundle lacks');
  const known = new Set([sample.name, timestep.name, hidden.name, cond?.name, textEmbeds?.name, timeIds?.name]);
  const extra = [...specs.keys()].filter((n) => !known.has(n));
  if (extra.length > 0) throw new BadInputError(where, `unsupported unet inputs ${extra.join(', ')}`);
  if (sample.shape.length !== 4) throw new BadInputError(where, `input ${sample.name} has rank ${sample.shape.length}, expected 4`);
  if (timestep.shape.length > 1) throw new BadInputError(where, `input ${timestep.name} has rank ${timestep.shape.length}, expected a scalar or [batch]`);
  let condDim = 0;
  if (cond) {
    const dim = cond.shape[1];
    const fromConfig = bundle.unetConfig.time_cond_proj_dim;
    condDim = typeof dim === 'number' ? dim : typeof fromConfig === 'number' ? fromConfig : 256;
  }
  return { sample, timestep, hidden, cond, condDim, ...(textEmbeds && timeIds ? { textEmbeds, timeIds } : {}) };
}
