/** Checks that an attack fits a dataset's geometry and classes before anything is poisoned or measured. */
import { compileTrigger } from './triggers.js';
import type { AttackSpec, ImageShape } from './types.js';

export function validateAttackForData(spec: AttackSpec, data: ImageShape & { numClasses: number }): void {
  spec.backdoors.forEach((b, i) => {
    if (b.label.type !== 'all-to-all' && b.label.target >= data.numClasses) {
      throw new Error(`attack "${spec.name}": backdoors[${i}].label.target ${b.label.target} is not a class of a ${data.numClasses}-class dataset`);
    }
    try {
      compileTrigger(b.trigger, data);
    } catch (e) {
      throw new Error(`attack "${spec.name}": backdoors[${i}].${(e as Error).message}`);
    }
  });
}
