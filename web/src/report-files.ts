/** The files a finished run offers: the purified model, and the report as Markdown (pictures inlined) and JSON. */
import type { Classifier } from '../../src/nn/classifier.js';
import { saveModel } from '../../src/nn/model-file.js';
import { attackToMetadata, type AttackSpec } from '../../src/attacks/index.js';
import { pictureLinks, reportPictures } from '../../src/awm/report-pictures.js';
import type { PurifyReport } from '../../src/awm/purify.js';
import { reportMarkdown } from '../../src/awm/report.js';
import type { Download } from './views/downloads.js';

function pngDataUrl(bytes: Uint8Array): string {
  let text = '';
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return `data:image/png;base64,${btoa(text)}`;
}

export async function reportFiles(model: Classifier, report: PurifyReport, triggers: readonly Float32Array[], shape: { c: number; h: number; w: number }, attack: AttackSpec | null, stem: string): Promise<Download[]> {
  // The purified model keeps the attack record, so `awm eval` can measure it again later.
  const metadata: Record<string, string> = { ...(attack ? attackToMetadata(attack) : {}), purified_by: report.method, purified_in: 'webgpu-awm web page' };
  const modelBytes = await saveModel(model, metadata);
  // The same pictures `awm purify` writes beside its report, inlined as data: URLs so the Markdown is one file.
  const pictures = pictureLinks(reportPictures(report, { triggers }, shape), '', (_name, png) => pngDataUrl(png));
  return [
    { name: `${stem}-purified.safetensors`, label: 'Purified model', bytes: modelBytes, type: 'application/octet-stream' },
    { name: `${stem}-report.md`, label: 'Report (Markdown, pictures inside)', bytes: reportMarkdown(report, pictures), type: 'text/markdown' },
    { name: `${stem}-report.json`, label: 'Report (JSON)', bytes: JSON.stringify(report, null, 2), type: 'application/json' },
  ];
}
