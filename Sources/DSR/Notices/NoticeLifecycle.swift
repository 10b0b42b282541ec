/// The outbox's decisions as a pure state machine: given a notice's state and what just
/// happened, the next state and what else to do. No database, no network: ``NoticeHandler``
/// performs the actions, and the transitions are unit-tested on their own.
///
/// ```
/// pending ──claim──▶ sending ──delivered──▶ sent
///    ▲                  │ ├──refused──▶ failed (the DPO is told when the person's notice failed)
///    └──clean failure───┘ └──crash, resend_in_doubt = false──▶ in_doubt (the DPO is told)
/// ```
public enum NoticeLifecycle {
    /// What a notice job does with the row it has locked.
    public enum Start: Equatable, Sendable {
        /// Finished with already (sent, failed, in doubt, cancelled): nothing to do.
        case skip
        /// An earlier attempt may have been delivered before a crash and resending is off:
        /// mark it `in_doubt`, telling the DPO when it was the person's notice.
        case markInDoubt(tellDPO: Bool)
        /// Render it (unless an earlier attempt did: the same message is sent again, with the
        /// same Message-ID or idempotency key) and mark it `sending`.
        case send
        /// An earlier notice of the same request to the same address (email or phone) is still
        /// to be sent: this one waits (its attempt not counted) and goes after it, so the
        /// person never reads a refusal or an answer before the acknowledgement queued with it.
        /// A notice to another address (a code to a contact on file, after an acknowledgement
        /// to the address the requester typed) does not wait.
        case waitForEarlier(Duration)
    }

    /// How long a notice waits for an earlier one (``start(_:audience:resendInDoubt:earlierDueIn:)``):
    /// until that one is due (it is overdue when being sent now), at least a second, at most
    /// ten minutes.
    public static let earlierNoticeWait: ClosedRange<Duration> = .seconds(1)...(.seconds(600))

    /// What came of a send.
    public enum Delivery: Equatable, Sendable {
        case delivered
        /// The server or gateway refused it for good (SMTP 5xx, gateway 4xx).
        case refused
        /// Not accepted, for a reason a later attempt may not have (a timeout, a 4xx from SMTP).
        case notAccepted
    }

    /// The state a notice moves to after a send, and whether the DPO is told.
    public struct Outcome: Equatable, Sendable {
        public let state: NoticeState
        public let tellDPO: Bool

        public init(state: NoticeState, tellDPO: Bool) {
            self.state = state
            self.tellDPO = tellDPO
        }
    }

    /// A notice job found the row in `state`; `earlierDueIn`: when the request's earliest
    /// notice to the same address that is still to be sent (with a job that will send it) is
    /// due, nil when there is none.
    public static func start(_ state: NoticeState, audience: Audience, resendInDoubt: Bool, earlierDueIn: Duration? = nil) -> Start {
        switch state {
        case .sent, .failed, .inDoubt, .cancelled: return .skip
        case .pending where audience == .subject && earlierDueIn != nil:
            let due = earlierDueIn ?? .zero
            return .waitForEarlier(min(max(due, earlierNoticeWait.lowerBound), earlierNoticeWait.upperBound))
        case .sending where !resendInDoubt: return .markInDoubt(tellDPO: audience != .dpo)
        case .sending, .pending: return .send
        }
    }

    /// After a send of a notice that was `sending`. A notice that was not accepted goes back
    /// to `pending` (the next attempt is not in doubt: nothing was delivered) and the queue
    /// retries its job.
    public static func afterSend(_ delivery: Delivery, audience: Audience) -> Outcome {
        switch delivery {
        case .delivered: Outcome(state: .sent, tellDPO: false)
        case .refused: Outcome(state: .failed, tellDPO: audience != .dpo)
        case .notAccepted: Outcome(state: .pending, tellDPO: false)
        }
    }
}
