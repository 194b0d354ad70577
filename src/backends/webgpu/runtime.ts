/**
 * The WebGPU runtime behind the webgpu backend: pipeline cache, buffer pool, one command encoder
 * that collects many dispatches (submitted on flush, i.e. about once per training step or read),
 * a uniform arena, uploads and readback.
 *
 * Ordering rules that make buffer reuse safe:
 * - Dispatches and copies are recorded into one encoder in program order, so a buffer released
 *   and re-acquired mid-step is only ever seen in that order.
 * - Host data enters through a staging buffer copied inside the encoder, never queue.writeBuffer on
 *   a pooled buffer (a writeBuffer would land before the not-yet-submitted encoder's commands).
 * - Uniforms do use queue.writeBuffer, into arena buffers owned by the batch being submitted,
 *   immediately before that batch's submit; queue order then keeps them after earlier batches.
 */
import type { DType, Storage } from '../../tensor/backend.js';
import { gpuWait } from '../../device/poll-throttle.js';
import type { GemmForm, GemmForms, GpuBinding, GpuContext, GpuLimits, GpuProgram, GpuStorage } from './context.js';
import { defaultGemmForms, defaultStridedBackwardData, defaultWinograd, type StridedBackwardData } from './context.js';
import { BufferPool } from './pool.js';

const UNIFORM_SLOT = 256; // minUniformBufferOffsetAlignment's default
const ARENA_BYTES = 64 * 1024;

export class WebGpuStorage implements GpuStorage {
  released = false;
  constructor(
    readonly buffer: GPUBuffer,
    readonly byteSize: number,
    readonly length: number,
    readonly dtype: DType,
  ) {}
}

interface CachedPipeline {
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
  signature: string;
}

interface ArenaChunk {
  buffer: GPUBuffer;
  data: Uint8Array<ArrayBuffer>;
  used: number;
}

export class WebGpuRuntime implements GpuContext {
  readonly limits: GpuLimits;
  readonly preferWorkgroupMemory: boolean;
  readonly gemmForms: GemmForms;
  readonly stridedBackwardData: StridedBackwardData;
  readonly splitIm2col: boolean;
  readonly winograd: boolean;
  private pipelines = new Map<string, CachedPipeline>();
  private pool: BufferPool;
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private arenaFree: ArenaChunk[] = [];
  private arenaBatch: ArenaChunk[] = [];
  private stagingToDestroy: GPUBuffer[] = [];
  private error: Error | null = null;
  /** Dispatches recorded since the last submit, and in total (for diagnostics and tests). */
  dispatchesInBatch = 0;
  dispatchCount = 0;
  submitCount = 0;
  /** Submit automatically once a batch holds this many dispatches, to bound encoder memory. */
  maxDispatchesPerBatch = 4096;

  constructor(readonly device: GPUDevice, readonly isSoftwareAdapter: boolean, preferWorkgroupMemory?: boolean, gemmForms?: Partial<GemmForms>, stridedBackwardData?: StridedBackwardData, splitIm2col = true, winograd?: boolean) {
    const l = device.limits;
    this.limits = {
      maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
      maxBufferSize: l.maxBufferSize,
      maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
      maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
      maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
      maxComputeWorkgroupSizeY: l.maxComputeWorkgroupSizeY,
      maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
      maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
    };
    this.preferWorkgroupMemory = preferWorkgroupMemory ?? !isSoftwareAdapter;
    // An explicit preferWorkgroupMemory puts every GEMM family in that form too (how tests cover both forms).
    const uniform: GemmForm = preferWorkgroupMemory ? 'shared' : 'register';
    const base = preferWorkgroupMemory === undefined
      ? defaultGemmForms(isSoftwareAdapter)
      : { matmul: uniform, convForward: uniform, convBackwardData: uniform, convBackwardWeight: uniform };
    this.gemmForms = { ...base, ...gemmForms };
    this.stridedBackwardData = stridedBackwardData ?? defaultStridedBackwardData(isSoftwareAdapter);
    this.splitIm2col = splitIm2col;
    this.winograd = winograd ?? defaultWinograd(isSoftwareAdapter);
    this.pool = new BufferPool(device, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST);
    device.addEventListener('uncapturederror', (ev) => {
      const e = (ev as GPUUncapturedErrorEvent).error;
      this.error ??= new Error(`WebGPU error: ${e.message}`);
    });
    void device.lost.then((info) => {
      this.error ??= new Error(`WebGPU device lost (${info.reason}): ${info.message || 'no message'}. Results computed since the last successful read are unreliable; restart the run.`);
    });
  }

  /** Throws the first asynchronous WebGPU error or device loss, if any has arrived. */
  checkError(): void {
    if (this.error) throw this.error;
  }

  // ---- memory --------------------------------------------------------------

  alloc(length: number, dtype: DType): WebGpuStorage {
    this.checkError();
    const bytes = Math.max(4, length * 4);
    if (bytes > this.limits.maxBufferSize) {
      throw new Error(`a tensor of ${length} elements (${bytes} bytes) exceeds this adapter's maxBufferSize (${this.limits.maxBufferSize} bytes)`);
    }
    const { buffer, byteSize } = this.pool.acquire(bytes);
    return new WebGpuStorage(buffer, byteSize, length, dtype);
  }

  release(s: Storage): void {
    const g = s as WebGpuStorage;
    if (g.released) throw new Error('a WebGPU storage was released twice');
    g.released = true;
    this.pool.giveBack(g.buffer, g.byteSize);
  }

  memoryStats(): { liveBytes: number; liveBuffers: number; freeBytes: number } {
    return this.pool.stats();
  }

  trimPool(): void {
    this.pool.trim();
  }

  upload(bytes: ArrayBufferView, length: number, dtype: DType): WebGpuStorage {
    const s = this.alloc(length, dtype);
    const size = Math.ceil(bytes.byteLength / 4) * 4;
    if (size === 0) return s;
    const staging = this.device.createBuffer({ size, usage: GPUBufferUsage.COPY_SRC, mappedAtCreation: true });
    new Uint8Array(staging.getMappedRange()).set(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    staging.unmap();
    this.endPass();
    this.getEncoder().copyBufferToBuffer(staging, 0, s.buffer, 0, size);
    this.stagingToDestroy.push(staging);
    return s;
  }

  async readBytes(s: Storage): Promise<ArrayBuffer> {
    const g = s as WebGpuStorage;
    if (g.released) throw new Error('cannot read a released WebGPU storage');
    const size = Math.max(4, g.length * 4);
    const staging = this.device.createBuffer({ size, usage: GPUBufferUsage.COPY_DST | GPUBufferUsage.MAP_READ });
    this.endPass();
    this.getEncoder().copyBufferToBuffer(g.buffer, 0, staging, 0, size);
    this.flush();
    try {
      await gpuWait(() => staging.mapAsync(GPUMapMode.READ));
    } catch (e) {
      this.checkError();
      throw new Error(`reading a tensor back from the GPU failed: ${(e as Error).message}`);
    }
    this.checkError();
    const out = staging.getMappedRange().slice(0);
    staging.unmap();
    staging.destroy();
    return out;
  }

  // ---- dispatch ------------------------------------------------------------

  private getEncoder(): GPUCommandEncoder {
    return (this.encoder ??= this.device.createCommandEncoder());
  }

  private endPass(): void {
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
  }

  private pipelineFor(program: GpuProgram, bindings: GpuBinding[], hasUniforms: boolean): CachedPipeline {
    const signature = bindings.map((b) => (b.access === 'read' ? 'r' : 'w')).join('') + (hasUniforms ? 'u' : '');
    const cached = this.pipelines.get(program.key);
    if (cached) {
      if (cached.signature !== signature) throw new Error(`program ${program.key} dispatched with bindings ${signature}, compiled for ${cached.signature}`);
      return cached;
    }
    const entries: GPUBindGroupLayoutEntry[] = bindings.map((b, i) => ({
      binding: i,
      visibility: GPUShaderStage.COMPUTE,
      buffer: { type: b.access === 'read' ? 'read-only-storage' : 'storage' },
    }));
    if (hasUniforms) entries.push({ binding: bindings.length, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform' } });
    const layout = this.device.createBindGroupLayout({ entries });
    const module = this.device.createShaderModule({ code: program.wgsl(), label: program.key });
    const pipeline = this.device.createComputePipeline({
      layout: this.device.createPipelineLayout({ bindGroupLayouts: [layout] }),
      compute: { module, entryPoint: 'main' },
      label: program.key,
    });
    const entry = { pipeline, layout, signature };
    this.pipelines.set(program.key, entry);
    return entry;
  }

  private uniformSlot(bytes: Uint8Array): { buffer: GPUBuffer; offset: number; size: number } {
    const size = Math.ceil(bytes.byteLength / 16) * 16;
    const slot = Math.ceil(size / UNIFORM_SLOT) * UNIFORM_SLOT;
    let chunk = this.arenaBatch[this.arenaBatch.length - 1];
    if (!chunk || chunk.used + slot > chunk.data.byteLength) {
      chunk = this.arenaFree.pop() ?? {
        buffer: this.device.createBuffer({ size: ARENA_BYTES, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST }),
        data: new Uint8Array(ARENA_BYTES),
        used: 0,
      };
      chunk.used = 0;
      this.arenaBatch.push(chunk);
    }
    const offset = chunk.used;
    chunk.data.set(bytes, offset);
    chunk.used += slot;
    return { buffer: chunk.buffer, offset, size };
  }

  dispatch(program: GpuProgram, bindings: GpuBinding[], workgroups: readonly [number, number, number], uniforms?: ArrayBuffer | ArrayBufferView): void {
    this.checkError();
    const [x, y, z] = workgroups;
    if (x === 0 || y === 0 || z === 0) return;
    const max = this.limits.maxComputeWorkgroupsPerDimension;
    if (x > max || y > max || z > max) throw new Error(`program ${program.key}: dispatch ${x}x${y}x${z} exceeds ${max} workgroups per dimension`);
    const u = uniforms === undefined ? null : uniforms instanceof ArrayBuffer ? new Uint8Array(uniforms) : new Uint8Array(uniforms.buffer, uniforms.byteOffset, uniforms.byteLength);
    const { pipeline, layout } = this.pipelineFor(program, bindings, u !== null);
    const entries: GPUBindGroupEntry[] = bindings.map((b, i) => {
      const g = b.storage as WebGpuStorage;
      if (g.released) throw new Error(`program ${program.key}: binding ${i} uses a released storage`);
      const size = Math.max(4, g.length * 4);
      if (size > this.limits.maxStorageBufferBindingSize) {
        throw new Error(`program ${program.key}: a ${size}-byte tensor exceeds this adapter's maxStorageBufferBindingSize (${this.limits.maxStorageBufferBindingSize}); split the work into smaller batches`);
      }
      return { binding: i, resource: { buffer: g.buffer, offset: 0, size: Math.ceil(size / 4) * 4 } };
    });
    if (u) {
      const slot = this.uniformSlot(u);
      entries.push({ binding: bindings.length, resource: { buffer: slot.buffer, offset: slot.offset, size: slot.size } });
    }
    const bindGroup = this.device.createBindGroup({ layout, entries });
    if (!this.pass) this.pass = this.getEncoder().beginComputePass();
    this.pass.setPipeline(pipeline);
    this.pass.setBindGroup(0, bindGroup);
    this.pass.dispatchWorkgroups(x, y, z);
    this.dispatchCount++;
    if (++this.dispatchesInBatch >= this.maxDispatchesPerBatch) this.flush();
  }

  /** Submits everything recorded so far as one command buffer. */
  flush(): void {
    this.checkError();
    if (!this.encoder) return;
    this.endPass();
    for (const chunk of this.arenaBatch) {
      if (chunk.used > 0) this.device.queue.writeBuffer(chunk.buffer, 0, chunk.data, 0, chunk.used);
    }
    this.device.queue.submit([this.encoder.finish()]);
    this.submitCount++;
    this.encoder = null;
    this.dispatchesInBatch = 0;
    // Arena chunks and staging buffers of this batch are free to reuse/destroy now: queue order
    // puts any later writeBuffer after this submit, and Dawn keeps destroyed buffers alive until
    // the GPU is done with them.
    this.arenaFree.push(...this.arenaBatch);
    this.arenaBatch = [];
    for (const b of this.stagingToDestroy) b.destroy();
    this.stagingToDestroy = [];
  }

  async sync(): Promise<void> {
    this.flush();
    await gpuWait(() => this.device.queue.onSubmittedWorkDone());
    this.checkError();
  }
}
