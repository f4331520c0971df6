/**
 * Base class of meshbus errors: every error carries a stable machine-readable
 * `code` next to a message meant for a person.
 */
export class MeshbusError extends Error {
  override name = 'MeshbusError';
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** A configuration value (environment variable, flag, file) is missing or invalid. */
export class ConfigError extends MeshbusError {
  override name = 'ConfigError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('InvalidConfig', message, options);
  }
}

/** Renders any thrown value as a short message for logs and error replies. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
