/*
 * Client networks of an authorization: the proxy API's IPNetwork, compiled
 * to prefix bits once, and the source address of a connection read as the
 * same 32- or 128-bit number.
 */
import { isIpAddress, parseIp } from '@meshbus/core';
import type { inbound, net } from '@meshbus/proxy-api';

/** A network as its family, the value of its first address and its prefix length. */
export interface CompiledNetwork {
  readonly family: 4 | 6;
  readonly bits: bigint;
  readonly prefix: number;
}

/** An IP address as a number of its family's width. */
export interface ClientAddress {
  readonly family: 4 | 6;
  readonly bits: bigint;
}

const u64 = (1n << 64n) - 1n;
const width = (family: 4 | 6): number => (family === 4 ? 32 : 128);

function mask(family: 4 | 6, prefix: number): bigint {
  const w = BigInt(width(family));
  return prefix === 0 ? 0n : (((1n << w) - 1n) >> (w - BigInt(prefix))) << (w - BigInt(prefix));
}

/**
 * A proxy API network as prefix bits; undefined when it names no address or
 * its prefix is longer than its family allows (such a network admits nobody).
 * Bits after the prefix are cleared.
 */
export function compileNetwork(network: net.IPNetwork | undefined): CompiledNetwork | undefined {
  const ip = network?.ip?.ip;
  if (!ip) return undefined;
  let family: 4 | 6;
  let bits: bigint;
  if (ip.$case === 'ipv4') {
    if (!Number.isInteger(ip.ipv4)) return undefined;
    family = 4;
    bits = BigInt(ip.ipv4 >>> 0);
  } else {
    family = 6;
    bits = ((BigInt(ip.ipv6.first) & u64) << 64n) | (BigInt(ip.ipv6.last) & u64);
  }
  const prefix = network.prefixLen;
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > width(family)) return undefined;
  return { family, bits: bits & mask(family, prefix), prefix };
}

/** Whether `address` lies in `network`. */
export function networkContains(network: CompiledNetwork, address: ClientAddress): boolean {
  return network.family === address.family && (address.bits & mask(network.family, network.prefix)) === network.bits;
}

/** An authorization's network with its exceptions. */
export interface CompiledClientNetwork {
  readonly net: CompiledNetwork;
  readonly except: readonly CompiledNetwork[];
}

/** A proxy API Network compiled; undefined when its `net` is unusable. An unusable exception excludes nothing. */
export function compileClientNetwork(network: inbound.Network): CompiledClientNetwork | undefined {
  const compiled = compileNetwork(network.net);
  if (!compiled) return undefined;
  return { net: compiled, except: network.except.flatMap((e) => compileNetwork(e) ?? []) };
}

/** Whether a client at `address` connects from `network` and none of its exceptions. */
export function clientNetworkAdmits(network: CompiledClientNetwork, address: ClientAddress): boolean {
  return networkContains(network.net, address) && !network.except.some((e) => networkContains(e, address));
}

const mappedPrefix = 0xffffn << 32n;

/**
 * The address of a connection's peer as Node.js reports it: IPv4, IPv6, an
 * IPv4 address mapped into IPv6 (`::ffff:10.0.0.1`, what a dual-stack
 * listener reports for IPv4 clients; read as the IPv4 address), or IPv6 with
 * a zone (`fe80::1%eth0`; the zone is dropped). Undefined for anything else.
 */
export function parseClientAddress(text: string): ClientAddress | undefined {
  const zone = text.indexOf('%');
  const address = zone < 0 ? text : text.slice(0, zone);
  if (!isIpAddress(address)) return undefined;
  const ip = parseIp(address);
  if (ip.family === 4) return { family: 4, bits: BigInt(ip.value) };
  const bits = (ip.high << 64n) | ip.low;
  if (bits >> 32n === mappedPrefix >> 32n) return { family: 4, bits: bits & 0xffff_ffffn };
  return { family: 6, bits };
}
