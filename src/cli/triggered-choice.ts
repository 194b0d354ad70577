/**
 * `--triggered FILE` for `awm eval` and `awm purify`: ASR from images with the trigger already applied (the zoo's
 * `<model>.triggered.safetensors`: `images` N,C,H,W in [0,1] and their true `labels`). What counts as a success
 * comes from, in order: --target N or --all-to-all; the attack recorded for the model (its metadata or
 * `<model>.attack.json`); the model card `<model>.json` beside it (`target`, `all2all`, as the zoo's models have).
 */
import { existsSync, readFileSync } from 'node:fs';
import type { LabelRule, TriggeredImages } from '../attacks/index.js';
import { UsageError, type FlagSpecs, type ParsedFlags } from './args.js';
import { chooseAttack } from './attack-choice.js';
import { readLabelledImages } from './purify-sources.js';
import { stringFlag } from './common.js';

export const triggeredFlags: FlagSpecs = {
  triggered: { type: 'string', help: "ASR from this file of triggered test images (safetensors: 'images' N,C,H,W in [0,1], 'labels' their true labels) instead of a trigger this project applies" },
  target: { type: 'int', help: "with --triggered: the attack's target class (default: from the model's metadata or <model>.json)" },
  'all-to-all': { type: 'boolean', help: 'with --triggered: the attack maps label y to (y+1) mod C' },
};

/** `dir/model.safetensors` -> `dir/model.json`, the model card the zoo's models carry. */
export function modelCardPath(modelPath: string): string {
  return `${modelPath.replace(/\.safetensors$/i, '')}.json`;
}

function ruleFromCard(modelPath: string): { rule: LabelRule; source: string } | null {
  const path = modelCardPath(modelPath);
  if (!existsSync(path)) return null;
  let card: { target?: unknown; all2all?: unknown };
  try {
    card = JSON.parse(readFileSync(path, 'utf8')) as typeof card;
  } catch (e) {
    throw new Error(`${path}: not valid JSON (${(e as Error).message})`);
  }
  if (card.all2all === true) return { rule: { type: 'all-to-all' }, source: path };
  if (typeof card.target === 'number' && Number.isInteger(card.target)) return { rule: { type: 'all-to-one', target: card.target }, source: path };
  return null;
}

/** The label rule for --triggered, and where it came from. */
export async function triggeredRule(flags: ParsedFlags, metadata: Record<string, string>, modelPath: string): Promise<{ rule: LabelRule; source: string }> {
  const target = flags.target as number | undefined;
  const a2a = flags['all-to-all'] === true;
  if (target !== undefined && a2a) throw new UsageError('give --target or --all-to-all, not both');
  if (target !== undefined) {
    if (target < 0) throw new UsageError(`--target must be a class index (0 or more), got ${target}`);
    return { rule: { type: 'all-to-one', target }, source: '--target' };
  }
  if (a2a) return { rule: { type: 'all-to-all' }, source: '--all-to-all' };
  const attack = await chooseAttack({ ...flags, attack: undefined }, metadata, modelPath);
  if (attack) {
    const rules = attack.spec.backdoors.map((b) => b.label);
    if (rules.length !== 1) throw new UsageError(`${attack.source} has ${rules.length} backdoors; with --triggered name the one the images carry: --target N or --all-to-all`);
    const r = rules[0]!;
    return { rule: r.type === 'all-to-all' ? r : { type: 'all-to-one', target: r.target }, source: attack.source };
  }
  const card = ruleFromCard(modelPath);
  if (card) return card;
  throw new UsageError(`--triggered: nothing records ${modelPath}'s target; give --target N or --all-to-all`);
}

/** Loads --triggered when given (null otherwise). */
export async function chooseTriggered(flags: ParsedFlags, metadata: Record<string, string>, modelPath: string): Promise<TriggeredImages | null> {
  const path = stringFlag(flags, 'triggered');
  if (path === undefined) {
    if (flags.target !== undefined || flags['all-to-all'] === true) throw new UsageError('--target and --all-to-all go with --triggered');
    return null;
  }
  if (stringFlag(flags, 'attack') !== undefined) throw new UsageError('give --attack or --triggered, not both');
  if (!existsSync(path)) throw new Error(`--triggered ${path}: no such file`);
  const { rule, source } = await triggeredRule(flags, metadata, modelPath);
  const images = await readLabelledImages(path);
  const ruleText = rule.type === 'all-to-all' ? 'all-to-all' : `target ${rule.target}`;
  return { ...images, rule, source: `${path} (${ruleText}, from ${source})` };
}
