import type { Command } from './command.js';

export const purifyCommand: Command = {
  name: 'purify',
  summary: '(not implemented yet)',
  flags: {},
  async run() {
    throw new Error('awm purify is not implemented yet');
  },
};
