/** Label rules: what a poisoned image's label becomes, and which label its trigger aims at. */
import type { LabelRule } from './types.js';

export type LabelFn = (y: number, numClasses: number) => number;

export const allToOne = (target: number): LabelFn => () => target;

/** Wraps, unlike the official AWM code, so the last class maps to class 0. */
export const allToAll: LabelFn = (y, numClasses) => (y + 1) % numClasses;

export const keepLabel: LabelFn = (y) => y;

/** The training-label function of a rule. */
export function labelFn(rule: LabelRule): LabelFn {
  switch (rule.type) {
    case 'all-to-one':
      return allToOne(rule.target);
    case 'all-to-all':
      return allToAll;
    case 'clean-label':
      return keepLabel;
  }
}

/**
 * The label a successful attack makes the model predict for a triggered image of true label y. For
 * clean-label attacks that is the target class, even though training labels were left unchanged.
 */
export function attackTarget(rule: LabelRule, y: number, numClasses: number): number {
  return rule.type === 'all-to-all' ? allToAll(y, numClasses) : rule.target;
}

/** The single target class, or null for all-to-all. */
export function fixedTarget(rule: LabelRule): number | null {
  return rule.type === 'all-to-all' ? null : rule.target;
}
