import type { Command } from './command.js';

export const evalCommand: Command = {
  name: 'eval',
  summary: '(not implemented yet)',
  flags: {},
  async run() {
    throw new Error('awm eval is not implemented yet');
  },
};
