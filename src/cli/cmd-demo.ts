import type { Command } from './command.js';

export const demoCommand: Command = {
  name: 'demo',
  summary: '(not implemented yet)',
  flags: {},
  async run() {
    throw new Error('awm demo is not implemented yet');
  },
};
