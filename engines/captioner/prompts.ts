import type { RawImage } from '@huggingface/transformers';
import type { ModelInputs, ProcessorCall, ProcessorLike } from './transformers-internals';

/** The instruction a chat VLM gets when the request names none. */
export const DEFAULT_INSTRUCTION = 'Describe this image in one sentence.';
/** Florence-2's task when the request names none. */
export const DEFAULT_FLORENCE_TASK = '<CAPTION>';

/**
 * What a family is asked, given the request's prompt: Florence-2's task token, a chat VLM's
 * instruction; nothing for vision-encoder-decoder models, which caption the image alone.
 */
export function familyPrompt(family: string, prompt: string | undefined): string | undefined {
  if (family === 'vision-encoder-decoder') return undefined;
  return prompt ?? (family === 'florence2' ? DEFAULT_FLORENCE_TASK : DEFAULT_INSTRUCTION);
}

/**
 * The model inputs of a batch of images for a captioner family (config.json model_type): the image
 * alone (vision-encoder-decoder), a task prompt (Florence-2), or one chat turn holding the image and
 * the instruction, rendered by the bundle's chat template (LLaVA: "USER: <image>\n… ASSISTANT:";
 * LLaVA-OneVision: "<|im_start|>user\n<image>\n…<|im_end|>\n<|im_start|>assistant\n"; SmolVLM,
 * Idefics3 and the other chat VLMs).
 */
export async function familyInputs(
  family: string, processor: ProcessorCall & ProcessorLike, images: RawImage[], prompt: string | undefined, where: string,
): Promise<ModelInputs> {
  const asked = familyPrompt(family, prompt);
  if (asked === undefined) return processor(images);
  if (family === 'florence2') {
    const prompts = processor.construct_prompts?.(images.map(() => asked)) ?? images.map(() => asked);
    return processor(images, prompts);
  }
  const messages = [{ role: 'user', content: [{ type: 'image' }, { type: 'text', text: asked }] }];
  const text = processor.apply_chat_template?.(messages, { add_generation_prompt: true });
  if (typeof text !== 'string') throw new Error(`${where}: ${family} has no chat template for a caption prompt`);
  // LlavaProcessor (and ./onevision.ts's) takes the images first; Idefics3's (SmolVLM) the texts, then each text's images.
  return family === 'llava' || family === 'llava_onevision'
    ? processor(images, images.map(() => text))
    : processor(images.map(() => text), images.map((image) => [image]));
}
