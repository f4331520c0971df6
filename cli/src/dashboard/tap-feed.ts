/*
 * The seam through which `meshbus tap` will feed the dashboard's tap panel.
 * The dashboard does not tap proxies itself: without a feed, the page shows
 * "tap not available".
 */

/** Which requests a tap follows. */
export interface TapFilter {
  readonly namespace?: string;
  readonly workload?: string;
}

/** One tapped request, sent to the page as JSON as it is. */
export type TapRecord = Readonly<Record<string, unknown>>;

/** A source of tapped requests; `start` returns the function that stops it. */
export interface TapFeed {
  start(filter: TapFilter, onRecord: (record: TapRecord) => void): () => void;
}
