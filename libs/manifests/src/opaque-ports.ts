import { parsePortRanges } from './port-ranges.js';
import type { PortRange, StringMap } from './resources.js';

/** Annotation listing the ports of a Service or Workload that carry opaque TCP, e.g. `3306,5000-5002`. */
export const opaquePortsAnnotation = 'config.meshbus.io/opaque-ports';

/** Reads {@link opaquePortsAnnotation}; an unreadable value is an issue. */
export function readOpaquePorts(annotations: StringMap, issues: string[]): PortRange[] {
  const value = annotations[opaquePortsAnnotation];
  if (value === undefined) return [];
  const parsed = parsePortRanges(value);
  if ('error' in parsed) {
    issues.push(`metadata.annotations["${opaquePortsAnnotation}"]: ${parsed.error}`);
    return [];
  }
  return parsed.ranges;
}
