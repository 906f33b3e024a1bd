import type { RawImage } from '@huggingface/transformers';
import type { ModelInputs, ProcessorCall, ProcessorLike } from './transformers-internals';

/**
 * The model inputs of a batch of images for a captioner family (config.json model_type): the image
 * alone (vision-encoder-decoder), a task prompt (Florence-2), or one chat turn holding the image and
 * an instruction (SmolVLM, Idefics3 and the other chat VLMs).
 */
export async function familyInputs(
  family: string, processor: ProcessorCall & ProcessorLike, images: RawImage[], prompt: string | undefined, where: string,
): Promise<ModelInputs> {
  switch (family) {
    case 'vision-encoder-decoder':
      return processor(images);
    case 'florence2': {
      const task = prompt ?? '<CAPTION>';
      const prompts = processor.construct_prompts?.(images.map(() => task)) ?? images.map(() => task);
      return processor(images, prompts);
    }
    default: {
      // Chat VLMs (SmolVLM, Idefics3...): one user turn with the image and the instruction.
      const messages = [{ role: 'user', content: [{ type: 'image' }, { type: 'text', text: prompt ?? 'Describe this image in one sentence.' }] }];
      const text = processor.apply_chat_template?.(messages, { add_generation_prompt: true });
      if (typeof text !== 'string') throw new Error(`${where}: ${family} has no chat template for a caption prompt`);
      return processor(images.map(() => text), images.map((image) => [image]));
    }
  }
}
