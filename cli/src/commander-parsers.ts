import { InvalidArgumentError } from 'commander';
import { UsageError } from './errors.js';

function rethrow(err: unknown): never {
  // Commander prints InvalidArgumentError together with the flag it belongs to.
  if (err instanceof UsageError) throw new InvalidArgumentError(err.message);
  throw err;
}

/** Adapts a parser of flags.ts to a commander argument or option parser. */
export function parsedBy<T>(parse: (text: string) => T): (value: string) => T {
  return (value) => {
    try {
      return parse(value);
    } catch (err) {
      rethrow(err);
    }
  };
}

/** Like {@link parsedBy}, for an option that may be given several times. */
export function collectedBy<T>(parse: (text: string) => T): (value: string, previous: T[] | undefined) => T[] {
  return (value, previous) => {
    try {
      return [...(previous ?? []), parse(value)];
    } catch (err) {
      rethrow(err);
    }
  };
}
