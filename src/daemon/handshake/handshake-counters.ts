/**
 * Handshake messages the device sent and accepted, by type (whitepaper
 * §5.4.2–5.4.7): what `xdpwg stats --json` shows under "handshakes" and the
 * metrics export as xdpwg_handshake_messages_total. Received counts only
 * messages that passed their checks; the rejected ones are drops by reason.
 *
 * Threading: main thread only (the device is the one writer and reader).
 */
export class HandshakeCounters {
  initiationsSent = 0;
  initiationsReceived = 0;
  responsesSent = 0;
  responsesReceived = 0;
  cookieRepliesSent = 0;
  cookieRepliesReceived = 0;

  snapshot(): HandshakeCounts {
    return {
      initiationsSent: this.initiationsSent,
      initiationsReceived: this.initiationsReceived,
      responsesSent: this.responsesSent,
      responsesReceived: this.responsesReceived,
      cookieRepliesSent: this.cookieRepliesSent,
      cookieRepliesReceived: this.cookieRepliesReceived,
    };
  }
}

export type HandshakeCounts = Pick<
  HandshakeCounters,
  'initiationsSent' | 'initiationsReceived' | 'responsesSent' | 'responsesReceived' | 'cookieRepliesSent' | 'cookieRepliesReceived'
>;
