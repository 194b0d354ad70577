/**
 * The AWM page: wires the form to a run and the run to the views. Runs entirely in the browser;
 * the only network requests are for the page's own files (script, styles, demo assets).
 */
import type { Backend } from '../src/tensor/backend.js';
import type { Classifier } from '../src/nn/classifier.js';
import { createBackend } from '../src/backends/index.js';
import { explainedRoundAgrees } from '../src/awm/walkthrough-text.js';
import { triggerFootprint } from '../src/awm/trigger-footprint.js';
import { NoWebGpuError } from '../src/device/gpu.js';
import { cleanSetFromDataset } from '../src/awm/clean-set.js';
import { byId } from './src/dom.js';
import { explainError } from './src/errors.js';
import { applyPreset, readSettings, type Device } from './src/settings.js';
import { cleanImages, evaluation, modelBytes, selectedSource } from './src/inputs.js';
import { describeModel, openModel } from './src/model.js';
import { runJob } from './src/job.js';
import { explainRound } from './src/explain.js';
import { drawRgb } from './src/charts.js';
import { triggerToRgb } from '../src/awm/pictures.js';
import { reportFiles } from './src/report-files.js';
import { scanModel, SCAN_DEFAULTS } from '../src/awm/scan.js';
import { scanTable } from '../src/awm/scan-text.js';
import { scanPicture } from '../src/awm/scan-picture.js';
import { MetricsView } from './src/views/metrics.js';
import { AttackExampleView } from './src/views/attack-example.js';
import { TriggerView } from './src/views/triggers.js';
import { LossView } from './src/views/losses.js';
import { MaskHistogramView } from './src/views/masks.js';
import { LayerView } from './src/views/layers.js';
import { DownloadsView } from './src/views/downloads.js';

const views = {
  metrics: new MetricsView(byId('metrics'), byId('metrics-note')),
  example: new AttackExampleView(byId('attack-example')),
  triggers: new TriggerView(byId('triggers')),
  losses: new LossView(byId<HTMLCanvasElement>('losses')),
  histograms: new MaskHistogramView(byId<HTMLCanvasElement>('histograms')),
  layers: new LayerView(byId<HTMLCanvasElement>('grad-norms'), byId<HTMLCanvasElement>('below-half'), byId('grad-step')),
  downloads: new DownloadsView(byId('downloads')),
};

const backends = new Map<Device, Promise<Backend>>();
let stopRequested = false;

function backendFor(device: Device): Promise<Backend> {
  let b = backends.get(device);
  if (!b) {
    b = createBackend(device);
    b.catch(() => backends.delete(device));
    backends.set(device, b);
  }
  return b;
}

function log(line: string): void {
  const pre = byId('log');
  pre.textContent += `${line}\n`;
  pre.scrollTop = pre.scrollHeight;
  console.log(line);
}

function setState(state: 'idle' | 'running' | 'done' | 'error', status: string): void {
  document.body.dataset.state = state;
  byId('status').textContent = status;
  byId<HTMLButtonElement>('run').disabled = state === 'running';
  byId<HTMLButtonElement>('stop').disabled = state !== 'running';
  byId<HTMLButtonElement>('explain-round').disabled = state === 'running';
  byId<HTMLButtonElement>('scan').disabled = state === 'running';
}

function showError(e: unknown): void {
  const { kind, title, detail } = explainError(e);
  const box = byId('error');
  box.dataset.kind = kind;
  byId('error-title').textContent = title;
  byId('error-detail').textContent = detail;
  box.hidden = false;
  log(`${title}: ${detail}`);
}

function resetViews(): void {
  byId('error').hidden = true;
  byId('log').textContent = '';
  for (const v of Object.values(views)) v.reset();
}

async function run(): Promise<void> {
  resetViews();
  stopRequested = false;
  setState('running', 'preparing…');
  const progress = byId<HTMLProgressElement>('progress');
  progress.value = 0;
  const t0 = performance.now();
  let model: Classifier | null = null;
  try {
    const settings = readSettings();
    const backend = await backendFor(settings.device);
    log(`device: ${backend.info.description}`);
    const source = selectedSource();
    const file = await modelBytes(source);
    const opened = openModel(backend, file.bytes, file.name);
    model = opened.model;
    log(`model: ${describeModel(opened)}${opened.attack ? `, records the attack "${opened.attack.name}"` : ''}`);
    if (opened.attackProblem) log(`the model's attack record is unusable: ${opened.attackProblem}`);
    const clean = await cleanImages(source, opened.spec);
    const ev = await evaluation(source, opened.spec, opened.attack);
    views.metrics.explain(ev.note);
    if (ev.set && ev.attack) views.example.show(ev.set, ev.attack);
    log(`clean images: ${clean.n}; evaluation images: ${ev.set ? ev.set.n : 'none'}`);
    const shape = { c: clean.c, h: clean.h, w: clean.w };
    views.triggers.setFootprint(ev.attack ? triggerFootprint(ev.attack, shape) : undefined);
    const steps = { done: 0 };
    setState('running', ev.set ? 'measuring the model before AWM…' : 'running AWM…');
    const result = await runJob(backend, model, cleanSetFromDataset(clean), settings, ev.set && ev.attack ? { testSet: ev.set, attack: ev.attack } : null, {
      log,
      shouldStop: () => stopRequested,
      evaluated: (when, m) => {
        views.metrics.show(when, m);
        if (when === 'before') setState('running', 'running AWM…');
      },
      maskStep: (info) => {
        views.losses.add(info);
        if (info.gradNorms) views.layers.drawGradients(info.gradNorms, `(round ${info.round}, step ${info.step}/${info.stepsPerPhase})`);
        steps.done = (info.round - 1) * info.stepsPerPhase + info.step;
        progress.value = steps.done / (settings.options.outer! * info.stepsPerPhase);
        byId('status').textContent = `round ${info.round}/${settings.options.outer}, mask step ${info.step}/${info.stepsPerPhase}`;
      },
      round: (stats, masks) => {
        views.triggers.add(stats, shape);
        views.histograms.draw(masks);
        views.layers.drawBelowHalf(masks);
        if (stats.round === stats.rounds && ev.set) setState('running', 'measuring the purified model…');
      },
    });
    const stem = source === 'demo' ? 'demo' : file.name.replace(/\.safetensors$/i, '');
    views.downloads.show(await reportFiles(model, result.report, result.triggers, shape, ev.attack, stem));
    progress.value = 1;
    const seconds = (performance.now() - t0) / 1000;
    document.body.dataset.seconds = seconds.toFixed(1);
    setState('done', `done in ${seconds.toFixed(1)} s`);
  } catch (e) {
    showError(e);
    setState('error', 'stopped with an error (see above)');
  } finally {
    model?.dispose();
  }
}

async function explain(): Promise<void> {
  resetViews();
  setState('running', 'explaining one round…');
  const section = byId('view-explain');
  const pre = byId('explain');
  pre.textContent = '';
  byId('explain-trigger-figure').hidden = true;
  section.hidden = false;
  try {
    const settings = readSettings();
    const source = selectedSource();
    const file = await modelBytes(source);
    const { explained, images, lines } = await explainRound(file.bytes, file.name, (spec) => cleanImages(source, spec), settings);
    pre.textContent = lines.join('\n');
    const shape = { c: images.c, h: images.h, w: images.w };
    drawRgb(byId<HTMLCanvasElement>('explain-trigger'), triggerToRgb(explained.result.trigger.values, shape.c, shape.h, shape.w), shape.w, shape.h, Math.max(1, Math.round(112 / Math.max(shape.h, shape.w))));
    byId('explain-trigger-figure').hidden = false;
    section.dataset.agrees = String(explainedRoundAgrees(explained));
    setState('done', explainedRoundAgrees(explained) ? 'one round explained; every check agrees' : 'one round explained; a check DISAGREES');
  } catch (e) {
    showError(e);
    setState('error', 'stopped with an error (see above)');
  }
}

async function scan(): Promise<void> {
  resetViews();
  setState('running', 'scanning…');
  const section = byId('view-scan');
  section.hidden = false;
  byId('scan-verdict').textContent = '';
  byId('scan-table').textContent = '';
  let model: Classifier | null = null;
  try {
    const settings = readSettings();
    const backend = await backendFor(settings.device);
    const source = selectedSource();
    const file = await modelBytes(source);
    const opened = openModel(backend, file.bytes, file.name);
    model = opened.model;
    log(`model: ${describeModel(opened)}`);
    const clean = await cleanImages(source, opened.spec);
    const r = await scanModel(model, backend, cleanSetFromDataset(clean), { ...SCAN_DEFAULTS, seed: settings.seed }, log);
    byId('scan-verdict').textContent = r.verdict;
    byId('scan-table').textContent = scanTable(r, clean.classNames).join('\n');
    const picture = scanPicture(r, { c: clean.c, h: clean.h, w: clean.w }, clean.classNames);
    drawRgb(byId<HTMLCanvasElement>('scan-picture'), picture.data, picture.width, picture.height, 1);
    section.dataset.backdoored = String(r.backdoored);
    section.dataset.target = r.target === null ? '' : String(r.target);
    setState('done', `scanned in ${r.seconds.toFixed(1)} s`);
  } catch (e) {
    showError(e);
    setState('error', 'stopped with an error (see above)');
  } finally {
    model?.dispose();
  }
}

function showSource(): void {
  const files = selectedSource() === 'files';
  byId('demo-fields').hidden = files;
  byId('file-fields').hidden = !files;
}

function start(): void {
  document.querySelectorAll('input[name="source"]').forEach((radio) => radio.addEventListener('change', showSource));
  showSource();
  byId('preset-quick').addEventListener('click', () => applyPreset('quick'));
  byId('preset-paper').addEventListener('click', () => applyPreset('paper'));
  byId('run').addEventListener('click', () => void run());
  byId('explain-round').addEventListener('click', () => void explain());
  byId('scan').addEventListener('click', () => void scan());
  byId('stop').addEventListener('click', () => {
    stopRequested = true;
    byId('status').textContent = 'stopping after this step…';
  });
  if (!(navigator as Navigator & { gpu?: unknown }).gpu) {
    showError(new NoWebGpuError('This browser exposes no WebGPU (navigator.gpu is missing): use a recent Chrome, Edge or Safari, or Firefox with WebGPU enabled, over https or localhost.'));
  }
  setState('idle', 'ready');
}

start();
