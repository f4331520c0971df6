import type { PolicyResource } from '@meshbus/manifests';
import type { ResourceCheck } from './checks.js';
import type { Reader } from './lookup.js';
import type { PolicySettings } from './settings.js';

/** What one computed value says about the resources that shaped it, for their statuses. */
export interface Contribution {
  /** The workload or service ports shaped, by an id unique across the whole result. */
  readonly ports: Set<string>;
  /** Where the resource lost a conflict, for a person. */
  readonly conflicts: string[];
}

/**
 * What the computation of one workload's or one service's policy works
 * with: a reader that records what it reads, the checks of the resources it
 * uses (their reads become its reads), and a place to say which resources
 * shaped which ports.
 */
export interface UnitContext {
  readonly reader: Reader;
  readonly settings: PolicySettings;
  check(resource: PolicyResource): ResourceCheck;
  /** `resource` (a status key) shapes `port` (a port id). */
  affect(statusKey: string, port: string): void;
  /** `resource` (a status key) is left out somewhere: `message` says where and why. */
  conflict(statusKey: string, message: string): void;
}
