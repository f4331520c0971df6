/*
 * The seam through which the dashboard's tap panel gets tapped requests. The
 * page asks for one workload (and a filter) over /api/tap; the feed runs a
 * tap session for as long as the page listens. Without a feed the page shows
 * "tap not available".
 */

/** Which requests a tap follows: one workload, optionally narrowed. */
export interface TapFilter {
  readonly namespace: string;
  readonly workload: string;
  readonly path?: string;
  readonly method?: string;
  readonly authority?: string;
}

/** One tapped request, sent to the page as JSON as it is. */
export type TapRecord = Readonly<Record<string, unknown>>;

/** What a feed tells the page. */
export interface TapFeedListener {
  record(record: TapRecord): void;
  /** A line for the user: the session started, no record yet, the bus refused. */
  notice(text: string): void;
}

/** A source of tapped requests; `start` returns the function that stops it. */
export interface TapFeed {
  start(filter: TapFilter, listener: TapFeedListener): () => void;
}
