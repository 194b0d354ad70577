/** Learning-rate schedules as pure functions of the epoch (or step) index, matching PyTorch's. */

/** StepLR: lr * gamma^floor(epoch / stepSize). */
export function stepLR(baseLr: number, stepSize: number, gamma = 0.1): (epoch: number) => number {
  return (epoch) => baseLr * gamma ** Math.floor(epoch / stepSize);
}

/** MultiStepLR: multiplies by gamma at each milestone passed. */
export function multiStepLR(baseLr: number, milestones: readonly number[], gamma = 0.1): (epoch: number) => number {
  return (epoch) => baseLr * gamma ** milestones.filter((m) => epoch >= m).length;
}

/** CosineAnnealingLR (closed form): etaMin + (base - etaMin) * (1 + cos(pi * t / tMax)) / 2. */
export function cosineLR(baseLr: number, tMax: number, etaMin = 0): (t: number) => number {
  return (t) => etaMin + ((baseLr - etaMin) * (1 + Math.cos((Math.PI * Math.min(t, tMax)) / tMax))) / 2;
}
