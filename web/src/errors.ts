/**
 * Errors a person can act on. Loaders throw PageError with a title and a plain explanation;
 * anything else (an engine error) is shown with its own message under a generic title.
 */
import { NoWebGpuError } from '../../src/device/gpu.js';
import { ArchitectureError } from '../../src/nn/infer.js';
import { StateDictError } from '../../src/nn/state-dict.js';

export type ErrorKind = 'no-webgpu' | 'not-a-model' | 'shapes' | 'image-size' | 'images' | 'settings' | 'stopped' | 'other';

export class PageError extends Error {
  constructor(readonly kind: ErrorKind, readonly title: string, message: string) {
    super(message);
    this.name = 'PageError';
  }
}

export interface Explained {
  kind: ErrorKind;
  title: string;
  detail: string;
}

export function explainError(e: unknown): Explained {
  if (e instanceof PageError) return { kind: e.kind, title: e.title, detail: e.message };
  const message = e instanceof Error ? e.message : String(e);
  if (e instanceof NoWebGpuError) {
    return {
      kind: 'no-webgpu',
      title: 'This browser has no WebGPU',
      detail: `${message} You can still run AWM here by choosing "CPU (slow)" under Device, or open the page in a browser with WebGPU.`,
    };
  }
  if (e instanceof ArchitectureError || e instanceof StateDictError) {
    return { kind: 'shapes', title: 'The model’s shapes do not fit', detail: `${message}. The page knows small-cnn, ResNet-18 and PreAct-ResNet-18 state dicts saved as safetensors.` };
  }
  if (message === 'AWM stopped') return { kind: 'stopped', title: 'Stopped', detail: 'The run was stopped; the model was not changed. Press Run to start again.' };
  return { kind: 'other', title: 'Something went wrong', detail: message };
}
