import { MeshbusError } from '@meshbus/runtime';

/** A workload string of a policy request that names no workload. */
export class WorkloadRefError extends MeshbusError {
  override name = 'WorkloadRefError';
  constructor(message: string) {
    super('InvalidWorkload', message);
  }
}

/** The workload a proxy says it runs in. */
export interface WorkloadRef {
  namespace: string;
  /** The pod name (Kubernetes) or the workload name (local mode). */
  name: string;
}

const namespacePattern = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const namePattern = /^[a-z0-9]([-.a-z0-9]{0,251}[a-z0-9])?$/;

/** The forms every refusal names, so that the reader knows what to send instead. */
const forms = `use {"ns":"<namespace>","pod":"<pod>"}, {"ns":"<namespace>","name":"<workload>"} or <namespace>:<workload>`;

function checked(namespace: string, name: string, text: string): WorkloadRef {
  if (!namespacePattern.test(namespace)) {
    throw new WorkloadRefError(`workload ${JSON.stringify(text)}: namespace ${JSON.stringify(namespace)} is not a DNS label (lower-case letters, digits and '-', at most 63)`);
  }
  if (!namePattern.test(name)) {
    throw new WorkloadRefError(`workload ${JSON.stringify(text)}: name ${JSON.stringify(name)} is not a DNS name (lower-case letters, digits, '-' and '.', at most 253)`);
  }
  return { namespace, name };
}

function fromJson(text: string): WorkloadRef {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new WorkloadRefError(`workload ${JSON.stringify(text)} is not valid JSON; ${forms}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new WorkloadRefError(`workload ${JSON.stringify(text)} is not a JSON object; ${forms}`);
  const fields = value as Record<string, unknown>;
  const unknown = Object.keys(fields).filter((k) => k !== 'ns' && k !== 'pod' && k !== 'name');
  if (unknown.length > 0) throw new WorkloadRefError(`workload ${JSON.stringify(text)} has unknown field ${JSON.stringify(unknown[0])}; ${forms}`);
  if (typeof fields.ns !== 'string') throw new WorkloadRefError(`workload ${JSON.stringify(text)} needs "ns" as a string; ${forms}`);
  if ('pod' in fields && 'name' in fields) throw new WorkloadRefError(`workload ${JSON.stringify(text)} has both "pod" and "name"; give one`);
  const name = fields.pod ?? fields.name;
  if (typeof name !== 'string') throw new WorkloadRefError(`workload ${JSON.stringify(text)} needs "pod" or "name" as a string; ${forms}`);
  return checked(fields.ns, name, text);
}

/**
 * Reads the workload of a PortSpec or TrafficSpec: the Linkerd JSON form
 * `{"ns":"shop","pod":"web-1"}`, the local form `{"ns":"shop","name":"web-1"}`
 * or the short form `shop:web-1`. Anything else is refused with a reason and
 * the accepted forms.
 */
export function parseWorkloadRef(text: string): WorkloadRef {
  if (text.length === 0) throw new WorkloadRefError(`workload is empty; ${forms}`);
  if (text.length > 1024) throw new WorkloadRefError(`workload is ${text.length} characters long (at most 1024); ${forms}`);
  const first = text.trimStart()[0];
  if (first === '{' || first === '[') return fromJson(text);
  const colon = text.indexOf(':');
  if (colon === -1) throw new WorkloadRefError(`workload ${JSON.stringify(text)} names no namespace; ${forms}`);
  return checked(text.slice(0, colon), text.slice(colon + 1), text);
}
