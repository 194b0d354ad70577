/** PNG encode/decode plus the PGM/PPM reader; see the individual modules for details. */

export { encodePng, zlibStored, type PngEncodeOptions } from './png-encode.js';
export { decodePng, type PngDecodeOptions } from './png-decode.js';
export { hasPngSignature } from './png-chunks.js';
export { encodePnm, hasPnmMagic, parsePnm } from './pnm.js';
export { decodeImage, type DecodeImageOptions } from './image.js';
export { chwToHwc, convertChannels, hwcToChw, type ChannelCount, type RasterImage } from './raster.js';
export { adler32, crc32 } from './checksums.js';
