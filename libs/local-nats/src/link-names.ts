import { clusterNameRule, isClusterName } from '@meshbus/core';
import { NatsAuthorizationError } from './errors.js';

/** The stream of a cluster's exported services and its heartbeat. */
export const exportsStream = 'MESHBUS_EXPORTS';
/** Subjects of {@link exportsStream}: `meshbus.v1.exports.<namespace>.<service>` and `meshbus.v1.exports.heartbeat.<cluster>`. */
export const exportsSubjects = 'meshbus.v1.exports.>';

/** Throws a clear error unless `name` can name a cluster. */
export function checkClusterName(name: string, what = 'cluster name'): string {
  if (!isClusterName(name)) {
    throw new NatsAuthorizationError(`${what} ${JSON.stringify(name)}: use ${clusterNameRule}`);
  }
  return name;
}

/** West's stream holding what it receives from `remote`: `MESHBUS_LINK_<REMOTE>`. */
export function linkStreamName(remote: string): string {
  return `MESHBUS_LINK_${checkClusterName(remote).toUpperCase().replace(/-/g, '_')}`;
}
