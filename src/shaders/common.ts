/**
 * WGSL snippets shared by kernels. Every kernel bounds-checks its own indices, given the host-side
 * checks before its dispatch, so Dawn's robustness transform is disabled by default in Node
 * (src/device/node-gpu.ts; a new kernel must keep this true), and recovers a linear index from a 2-D grid of
 * workgroups, since one dimension is capped at maxComputeWorkgroupsPerDimension (65535).
 */
import type { GpuContext } from '../backends/webgpu/context.js';
import { grid1d } from '../backends/webgpu/context.js';

/** Default workgroup size for one-thread-per-element kernels (within every adapter's default limits). */
export const WG = 256;

/** WGSL: linear workgroup index from wid and num_workgroups; use inside main(). */
export const LINEAR_WG = 'let wgIndex = wid.y * nwg.x + wid.x;';

/** Entry point header for 1-D kernels: `idx` is the global linear thread index. */
export function main1d(workgroupSize = WG): string {
  return `@compute @workgroup_size(${workgroupSize})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let idx = (wid.y * nwg.x + wid.x) * ${workgroupSize}u + lid;`;
}

/** Workgroup grid covering `threads` threads in groups of `workgroupSize`. */
export function grid(ctx: GpuContext, threads: number, workgroupSize = WG): [number, number, number] {
  return grid1d(Math.ceil(threads / workgroupSize), ctx.limits.maxComputeWorkgroupsPerDimension);
}

/** Packs uniform fields (u32/i32/f32 by tag) into 16-byte-aligned bytes. Field order = struct order, all 4-byte scalars. */
export function packUniforms(fields: Array<['u32' | 'i32' | 'f32', number]>): ArrayBuffer {
  const n = Math.max(4, Math.ceil(fields.length / 4) * 4);
  const buf = new ArrayBuffer(n * 4);
  const dv = new DataView(buf);
  fields.forEach(([t, v], i) => {
    if (t === 'f32') dv.setFloat32(i * 4, v, true);
    else if (t === 'i32') dv.setInt32(i * 4, v, true);
    else dv.setUint32(i * 4, v >>> 0, true);
  });
  return buf;
}

/** WGSL struct text for the same field list, e.g. struct U { n: u32, a: f32, } */
export function uniformStruct(name: string, fields: Array<[string, 'u32' | 'i32' | 'f32']>): string {
  const padded = [...fields];
  while (padded.length % 4 !== 0 || padded.length === 0) padded.push([`_pad${padded.length}`, 'u32']);
  return `struct ${name} {\n${padded.map(([f, t]) => `  ${f}: ${t},`).join('\n')}\n}`;
}
