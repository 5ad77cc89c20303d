import { describe, expect, it } from 'vitest';
import { COMMAND_NAMES, commandsFor } from './commands.js';
import { buildProgram } from './program.js';

describe('flexi commands, loaded when needed', () => {
  it('registers every command under the name its table entry has (the name a user types)', async () => {
    const program = await buildProgram();
    expect(program.commands.map((c) => c.name())).toEqual(COMMAND_NAMES);
  });

  it('registers only the command typed, nothing for --version, and all for help or an unknown word', async () => {
    expect(commandsFor(['node', 'flexi', 'agent', '--port', '9400'])).toEqual(['agent']);
    expect(commandsFor(['node', 'flexi', '--version'])).toEqual([]);
    expect(commandsFor(['node', 'flexi', '--help'])).toBe('all');
    expect(commandsFor(['node', 'flexi'])).toBe('all');
    expect(commandsFor(['node', 'flexi', 'servee'])).toBe('all');
    expect(commandsFor(['node', 'flexi', 'constructor'])).toBe('all');
    expect((await buildProgram(['agent'])).commands.map((c) => c.name())).toEqual(['agent']);
  });
});
