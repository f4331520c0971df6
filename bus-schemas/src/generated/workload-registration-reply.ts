/* Generated from bus-schemas/schemas/workload-registration-reply.schema.json by scripts/gen-types.mjs. Do not edit. */

/**
 * A destination replica's answer to a register, heartbeat or deregister request: what was done, or an error with a stable code.
 */
export type WorkloadRegistrationReply =
  | {
      namespace: string;
      name: string;
      /**
       * registered: new; updated: stored with changes; unchanged: already stored as sent; renewed: heartbeat counted; deregistered: tombstone stored; not-registered: nothing to deregister.
       */
      outcome: 'registered' | 'updated' | 'unchanged' | 'renewed' | 'deregistered' | 'not-registered';
      heartbeatIntervalMs?: number;
    }
  | {
      error: {
        code:
          | 'InvalidRequest'
          | 'Unauthenticated'
          | 'PermissionDenied'
          | 'NotRegistered'
          | 'NotLeader'
          | 'Unavailable'
          | 'RegistrationDisabled'
          | 'Internal';
        /**
         * What went wrong and what to fix, for a person.
         */
        message: string;
        /**
         * JSON pointer of the request field at fault (InvalidRequest, PermissionDenied).
         */
        field?: string;
        /**
         * True when the same request may succeed later (NotLeader, Unavailable).
         */
        retryable: boolean;
      };
    };
