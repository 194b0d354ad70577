/** Browser-safe I/O: safetensors, PNG/PNM, checksums and decompression helpers. */

export * from './safetensors.js';
export * from './png.js';
export {
  decompressStream,
  gunzipBrowser,
  inflateBrowser,
  isGzip,
  maybeGunzip,
  type CompressionFormatName,
  type Decompressor,
} from './decompress.js';
export { concatBytes } from './bytes.js';
export { ParseError } from './parse-error.js';
