#!/usr/bin/env node
// Keeps development-history narration and paths outside the repository out of the tracked files: comments, help
// texts, docs and result files say what the code does and why, and point at the repository's own copies of data.
// Usage: node scripts/check-words.mjs [FILE ...]   (default: every file `git ls-files` lists, in the current directory)
// Prints file:line: the words and the rule for each hit, and exits 1 on any (0 when clean, 2 when git fails).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * The rules, each precise enough that the words' technical uses pass: "shouldStop", "stop the server", "a stopped
 * run resumes", "release", "please", "the seed used to draw the images".
 */
export const RULES = [
  { name: 'a numbered stop', re: /\bstops? \d+(?:\s*-\s*\d+)?\b/gi },
  { name: 'a numbered stop', re: /\bstop-?\d+\b/gi },
  { name: 'a stop as a period of work', re: /\b(?:this|last|next|earlier|previous) stops?\b(?!\s*(?:button|signal|sign))/gi },
  { name: 'a lease', re: /\bleas(?:e|es|ed)\b/gi },
  { name: 'a session', re: /\bsessions?\b/gi },
  { name: 'history narration', re: /\bpreviously\b/gi },
  { name: 'history narration', re: /\bno longer\b/gi },
  { name: 'history narration', re: /\b(?:it|we|they|this|that|which|he|she) used to\b|\bused to be\b/gi },
  { name: 'history narration', re: /\bas before[.,;:)]/gi },
  { name: 'a "(new)" marker', re: /\(new[,)]/gi },
  { name: 'a path outside the repository', re: /\/work\/(?:shared|main)\b/g },
  { name: 'a path outside the repository', re: /(?<![\w.-])\.\.\/shared\b/g },
];

/** Files the check does not read: this script and its test, which spell the words out to test them. */
export const SKIPPED = new Set(['scripts/check-words.mjs', 'test/docs/check-words.test.ts']);

/** Every hit in `text`: its 1-based line, the words matched and the rule's name, in line order. */
export function findHits(text) {
  const hits = [];
  text.split('\n').forEach((line, i) => {
    for (const rule of RULES) {
      rule.re.lastIndex = 0;
      for (const m of line.matchAll(rule.re)) hits.push({ line: i + 1, column: m.index + 1, words: m[0], rule: rule.name });
    }
  });
  return hits.sort((a, b) => a.line - b.line || a.column - b.column);
}

/** Whether the bytes look like text: no NUL in the first 8 KiB (model files, images and archives have one). */
function isText(bytes) {
  return !bytes.subarray(0, 8192).includes(0);
}

/** The hits in each of `files` (paths relative to `root`), as "file:line: words (rule)" lines. */
export function checkFiles(files, root = '.') {
  const out = [];
  for (const file of files) {
    if (SKIPPED.has(file)) continue;
    let bytes;
    try {
      bytes = readFileSync(`${root}/${file}`);
    } catch {
      continue; // tracked but deleted in the work tree: nothing to read
    }
    if (!isText(bytes)) continue;
    for (const h of findHits(bytes.toString('utf8'))) out.push(`${file}:${h.line}: "${h.words}" (${h.rule})`);
  }
  return out;
}

function main(argv) {
  let files = argv;
  if (!files.length) {
    try {
      files = execFileSync('git', ['ls-files', '-z'], { encoding: 'utf8', maxBuffer: 64 << 20 }).split('\0').filter(Boolean);
    } catch (e) {
      console.error(`check-words: git ls-files failed: ${e.message}`);
      return 2;
    }
  }
  const lines = checkFiles(files);
  for (const l of lines) console.log(l);
  if (lines.length) {
    console.error(`check-words: ${lines.length} hit(s). Say what the code does and why, not how it got there, and point at the repository's own files.`);
    return 1;
  }
  return 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) process.exitCode = main(process.argv.slice(2));
