/**
 * Which class AWM+ would suspect (`npm run bench suspect-search -- --model M [flags]`; never part of `npm test`). For
 * each seed it draws the clean images and the check set exactly as `awm purify --method awm+ --per-class K --seed S`
 * does, runs the self-check and the suspect search (src/awm/suspect-search.ts) on the model as it is (no masks), and
 * prints what the suspect-class shift would do: the class and the probe that named it, every trigger search's flip, and the self-check's figures
 * (its noise probe is the other way to a suspect). On a backdoored model the suspect should be the attack's target at
 * every seed; on a clean model there should be none, since a wrong suspect costs that class's accuracy for nothing.
 *
 *   npm run bench suspect-search -- --model models/fmnist_resnet18w16_badnets.safetensors --seeds 1,2,3 --starts 4
 */
import { parseFlags } from '../src/cli/args.js';
import { createBackend } from '../src/backends/index.js';
import { openModel } from '../src/cli/common.js';
import { chooseCleanSource } from '../src/cli/purify-sources.js';
import { AWM_PLUS_DEFAULTS, planAwmPlus, planSelfCheck, resolveAwmPlusOptions, suspectedTarget } from '../src/awm/awm-plus.js';
import { formatSelfCheck, selfCheck } from '../src/awm/self-check.js';
import { formatSuspectSearch, plainSearch, suspectSearch } from '../src/awm/suspect-search.js';
import { writeFileAtomic } from '../src/io/atomic-write.node.js';

const flags = parseFlags(process.argv.slice(2), {
  model: { type: 'string', help: 'the model to check (safetensors)' },
  seeds: { type: 'string', default: '1', help: "comma-separated awm purify --seed values" },
  starts: { type: 'int', default: AWM_PLUS_DEFAULTS.suspectStarts, help: 'trigger searches from random starts beside the one from zero (awm purify --suspect-starts)' },
  clean: { type: 'string', default: 'fashion-mnist', help: 'the clean source, as awm purify takes it' },
  'per-class': { type: 'int', default: 1, help: 'as given to awm purify' },
  'data-dir': { type: 'string', help: 'as given to awm purify' },
  backend: { type: 'string', default: 'auto', help: 'auto, webgpu or cpu' },
  out: { type: 'string', help: 'also write the figures here as JSON' },
} as const);
if (!flags.model) throw new Error('--model is required');
const backend = await createBackend(String(flags.backend) as 'auto', { onFallback: (m) => console.warn(m) });
const opened = await openModel(backend, String(flags.model));
const rows: unknown[] = [];
for (const seed of String(flags.seeds).split(',').map(Number)) {
  const t0 = performance.now();
  const { clean } = await chooseCleanSource(flags, opened.spec, seed);
  const o = resolveAwmPlusOptions({ seed }, { clean, seed });
  // The pool only sets the search's step count, as in awm purify.
  const { pool } = await planAwmPlus(opened.model, backend, clean, o);
  const plan = await planSelfCheck(opened.model, backend, clean, o, pool.n);
  const check = await selfCheck(opened.model, backend, plan.check, plan.reference, plan.options);
  const search = await suspectSearch(opened.model, backend, plan.check, plan.reference, { ...plan.options, extraStarts: flags.starts as number });
  const suspect = suspectedTarget(check, search) ?? null;
  const seconds = (performance.now() - t0) / 1000;
  console.log(`seed ${seed}: suspect ${suspect ? `class ${suspect.cls} (${suspect.via}, ${(100 * suspect.flip).toFixed(1)} %)` : 'none'}; ${formatSuspectSearch(search)}; self-check: ${formatSelfCheck(check)}; ${seconds.toFixed(1)} s`);
  rows.push({ seed, suspect, search: plainSearch(search), check, seconds });
}
if (flags.out) await writeFileAtomic(String(flags.out), JSON.stringify({ model: flags.model, starts: flags.starts, date: new Date().toISOString(), backend: backend.info.description, rows }, null, 1));
process.exit(0);
