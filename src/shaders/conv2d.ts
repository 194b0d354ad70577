// Placeholder: this kernel family is being written; every function throws until it lands.
import type { Conv2dParams, Storage } from '../tensor/backend.js';
import type { GpuContext } from '../backends/webgpu/context.js';
const todo = (name: string): never => { throw new Error(`WebGPU kernel ${name} is not implemented yet`); };
export function conv2d(ctx: GpuContext, x: Storage, w: Storage, bias: Storage | null, p: Conv2dParams): Storage { return todo('conv2d'); }
export function conv2dBackwardData(ctx: GpuContext, dy: Storage, w: Storage, p: Conv2dParams): Storage { return todo('conv2dBackwardData'); }
export function conv2dBackwardWeight(ctx: GpuContext, x: Storage, dy: Storage, p: Conv2dParams): Storage { return todo('conv2dBackwardWeight'); }
