/** diffusers' EulerAncestralDiscreteScheduler. */
import { EulerBase } from './euler-discrete';
import { noiseFor, type StepNoise } from './scheduler';
import { f32 } from './tables';

export class EulerAncestralScheduler extends EulerBase {
  readonly kind = 'euler_a' as const;

  usesNoise(): boolean {
    return true;
  }

  step(modelOutput: Float32Array, stepIndex: number, sample: Float32Array, imageSize: number, noise?: StepNoise): Float32Array {
    const sigma = this.sigmas[stepIndex]!;
    const sigmaTo = this.sigmas[stepIndex + 1]!;
    const sigmaUp = f32(Math.sqrt(f32(f32(sigmaTo * sigmaTo) * f32(f32(sigma * sigma) - f32(sigmaTo * sigmaTo))) / f32(sigma * sigma)));
    const sigmaDown = f32(Math.sqrt(f32(f32(sigmaTo * sigmaTo) - f32(sigmaUp * sigmaUp))));
    const dt = f32(sigmaDown - sigma);
    const out = new Float32Array(sample.length);
    const images = sample.length / imageSize;
    for (let b = 0; b < images; b++) {
      const z = noiseFor(noise, this.kind, stepIndex, b, imageSize);
      for (let j = 0; j < imageSize; j++) {
        const i = b * imageSize + j;
        const x = sample[i]!;
        const x0 = this.x0(sigma, x, modelOutput[i]!);
        const derivative = (x - x0) / sigma;
        out[i] = x + derivative * dt + z[j]! * sigmaUp;
      }
    }
    return out;
  }
}
