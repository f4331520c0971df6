/**
 * The private inbox prefix of the NATS clients of one meshbus role (nats.js
 * `inboxPrefix`): replies, JetStream API answers and push-consumer deliveries
 * of that role's clients arrive under `_INBOX_<role>.`, and the generated NATS
 * permissions let only that role subscribe there.
 */
export function natsInboxPrefix(role: string): string {
  return `_INBOX_${role}`;
}
