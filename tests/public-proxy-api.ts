import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { credentials, loadPackageDefinition, type Client, type GrpcObject, type ServiceClientConstructor } from '@grpc/grpc-js';
import { fromJSON, loadSync, type MethodDefinition, type Options, type PackageDefinition } from '@grpc/proto-loader';
import { repoRoot } from './harness.js';

// A client of the proxy API built at run time from the public definitions,
// not from proxy-api/proto: what a proxy generated from the public
// inbound.proto and outbound.proto decodes from the gateway.
//
// The public definitions are the public proto folder when
// MESHBUS_PUBLIC_PROXY_API names one (a checkout of linkerd2-proxy-api,
// its proto/ folder), else proxy-api/public-contract.txt: the public wire
// contract saved from such a checkout (every message, field number, label,
// type and oneof, every enum value and RPC), turned back into a schema here.
// Fields that only meshbus defines are unknown to such a client.

type Namespace = Parameters<typeof fromJSON>[0];
interface MessageJson {
  fields: Record<string, { id: number; type: string; rule?: 'repeated'; keyType?: string }>;
  oneofs?: Record<string, { oneof: string[] }>;
  nested?: Record<string, unknown>;
}

/** How the proto-loader client shows messages: field names as in the .proto, 64-bit numbers and enums as strings. */
export const publicLoaderOptions: Options = { keepCase: true, longs: String, enums: String, defaults: false, oneofs: true };

const scalarTypes: Record<string, string> = {
  TYPE_DOUBLE: 'double', TYPE_FLOAT: 'float', TYPE_INT64: 'int64', TYPE_UINT64: 'uint64', TYPE_INT32: 'int32',
  TYPE_FIXED64: 'fixed64', TYPE_FIXED32: 'fixed32', TYPE_BOOL: 'bool', TYPE_STRING: 'string', TYPE_BYTES: 'bytes',
  TYPE_UINT32: 'uint32', TYPE_SFIXED32: 'sfixed32', TYPE_SFIXED64: 'sfixed64', TYPE_SINT32: 'sint32', TYPE_SINT64: 'sint64',
};

/** The well-known types the public files import, which the contract leaves out. */
const wellKnown = {
  Duration: { fields: { seconds: { id: 1, type: 'int64' }, nanos: { id: 2, type: 'int32' } } },
  Timestamp: { fields: { seconds: { id: 1, type: 'int64' }, nanos: { id: 2, type: 'int32' } } },
};

/** The schema (protobuf.js JSON) of the public proxy API, from the saved wire contract. */
export function schemaFromContract(text: string): Namespace {
  const root: { nested: Record<string, unknown> } = { nested: { google: { nested: { protobuf: { nested: { ...wellKnown } } } } } };
  const lines = text.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#'));
  /** The namespace, message or enum object of a full name, made on the way when missing. */
  const node = (fullName: string, make: () => object): Record<string, unknown> => {
    const parts = fullName.replace(/^\./, '').split('.');
    let at: Record<string, unknown> = root;
    for (const [i, part] of parts.entries()) {
      const nested = ((at.nested as Record<string, unknown> | undefined) ?? (at.nested = {})) as Record<string, Record<string, unknown>>;
      nested[part] ??= (i === parts.length - 1 ? make() : { nested: {} }) as Record<string, unknown>;
      at = nested[part]!;
    }
    return at;
  };
  const kind = (line: string) => line.slice(0, line.indexOf(' '));
  // Declarations first, outer messages before the types nested in them, so that
  // every parent exists as a message before it is filled.
  const declared = (k: string) => lines.filter((l) => kind(l) === k).map((l) => l.split(' ')[1]!).sort((a, b) => a.split('.').length - b.split('.').length);
  for (const name of declared('message')) node(name, () => ({ fields: {} }));
  for (const name of declared('enum')) node(name, () => ({ values: {} }));
  for (const line of lines) {
    const k = kind(line);
    if (k === 'field') {
      const m = /^field (\S+)\.([^.\s]+) = (\d+) (LABEL_\w+) (TYPE_\w+)(?: (\.\S+))?(?: oneof (\S+))?$/.exec(line);
      if (!m) throw new Error(`not a field line: ${line}`);
      const [, parent, field, id, label, type, typeName, oneof] = m;
      const message = node(parent!, () => ({ fields: {} })) as unknown as MessageJson;
      const resolved = typeName ?? scalarTypes[type!];
      if (!resolved) throw new Error(`unknown type in ${line}`);
      message.fields[field!] = { id: Number(id), type: resolved, ...(label === 'LABEL_REPEATED' ? { rule: 'repeated' as const } : {}) };
      if (oneof) ((message.oneofs ??= {})[oneof] ??= { oneof: [] }).oneof.push(field!);
    } else if (k === 'value') {
      const m = /^value (\S+)\.([^.\s]+) = (-?\d+)$/.exec(line);
      if (!m) throw new Error(`not a value line: ${line}`);
      (node(m[1]!, () => ({ values: {} })).values as Record<string, number>)[m[2]!] = Number(m[3]);
    } else if (k === 'rpc') {
      const m = /^rpc (\S+)\.([^.\s]+) (stream )?(\S+) -> (stream )?(\S+)$/.exec(line);
      if (!m) throw new Error(`not an rpc line: ${line}`);
      const service = node(m[1]!, () => ({ methods: {} })) as { methods: Record<string, unknown> };
      service.methods[m[2]!] = { requestType: m[4], responseType: m[6], ...(m[3] ? { requestStream: true } : {}), ...(m[5] ? { responseStream: true } : {}) };
    } else if (k !== 'message' && k !== 'enum' && k !== 'reserved') {
      throw new Error(`not a contract line: ${line}`);
    }
  }
  // Map fields: a repeated field of a nested `<Field>Entry` message of key 1 and value 2, as the
  // compiler writes `map<K, V>`, is a map again, so that it reads as from the .proto file.
  const visit = (message: MessageJson) => {
    for (const [name, field] of Object.entries(message.fields)) {
      const entryName = `${name.replace(/(^|_)(\w)/g, (_, __: string, c: string) => c.toUpperCase())}Entry`;
      const entry = message.nested?.[entryName] as MessageJson | undefined;
      if (field.rule !== 'repeated' || !entry || !field.type.endsWith(`.${entryName}`)) continue;
      const { key, value } = entry.fields;
      if (key?.id !== 1 || value?.id !== 2 || Object.keys(entry.fields).length !== 2) continue;
      message.fields[name] = { id: field.id, type: value.type, keyType: key.type };
      delete message.nested![entryName];
    }
    for (const n of Object.values(message.nested ?? {})) if ((n as MessageJson).fields) visit(n as MessageJson);
  };
  const walk = (ns: Record<string, unknown>) => {
    for (const n of Object.values((ns.nested as Record<string, Record<string, unknown>> | undefined) ?? {})) {
      if (n.fields) visit(n as unknown as MessageJson);
      else walk(n);
    }
  };
  walk(root);
  return root as Namespace;
}

/** The public package definition of the policy APIs, and where it came from. */
export function publicPolicyApi(): { definition: PackageDefinition; source: string } {
  const dir = process.env.MESHBUS_PUBLIC_PROXY_API;
  if (dir) {
    return { definition: loadSync(['inbound.proto', 'outbound.proto'], { ...publicLoaderOptions, includeDirs: [dir] }), source: `${join(dir, 'inbound.proto')} and outbound.proto` };
  }
  const file = join(repoRoot, 'proxy-api/public-contract.txt');
  return { definition: fromJSON(schemaFromContract(readFileSync(file, 'utf8')), publicLoaderOptions), source: `${file} (${readFileSync(file, 'utf8').split('\n', 1)[0]})` };
}

/** A client of one service of the package definition, and the definition of its methods. */
export function publicClient(definition: PackageDefinition, service: string, port: number): { client: Client & Record<string, (...args: unknown[]) => unknown>; methods: Record<string, MethodDefinition<object, object>> } {
  let at: GrpcObject | ServiceClientConstructor = loadPackageDefinition(definition);
  for (const part of service.split('.')) at = (at as GrpcObject)[part] as GrpcObject | ServiceClientConstructor;
  const Constructor = at as ServiceClientConstructor;
  return {
    client: new Constructor(`127.0.0.1:${port}`, credentials.createInsecure()) as unknown as Client & Record<string, (...args: unknown[]) => unknown>,
    methods: definition[service] as unknown as Record<string, MethodDefinition<object, object>>,
  };
}
