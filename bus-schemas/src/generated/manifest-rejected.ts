/* Generated from bus-schemas/schemas/manifest-rejected.schema.json by scripts/gen-types.mjs. Do not edit. */

/**
 * A configuration file or resource was refused; the previous valid version, if any, stays in force.
 */
export interface ManifestRejected {
  /**
   * Path of the file, relative to the manifests folder.
   */
  file: string;
  kind?: string;
  namespace?: string;
  name?: string;
  /**
   * What is wrong, for people.
   */
  reason: string;
}
