/** Differentiable tensor ops: plain functions over Tensors. */
export * from './create.js';
export * from './elementwise.js';
export * from './layout.js';
export * from './reduce.js';
export * from './linalg.js';
export * from './conv.js';
export * from './norm.js';
export * from './loss.js';
export * from './sample.js';
export * from './work.js';
