export { CpuBackend, type CpuBackendOptions } from './backend.js';
export { CpuStorage, type CpuPrecision } from './storage.js';
