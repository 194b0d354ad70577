import type { Command } from './command.js';

export const attackCommand: Command = {
  name: 'attack',
  summary: '(not implemented yet)',
  flags: {},
  async run() {
    throw new Error('awm attack is not implemented yet');
  },
};
