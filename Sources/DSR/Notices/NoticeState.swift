/// Where a notice is in the outbox (`dsr.outbox.state`); ``NoticeLifecycle`` decides the moves.
public enum NoticeState: String, Sendable, CaseIterable, Codable {
    case pending
    /// An attempt started; after a crash nobody knows whether it was delivered.
    case sending
    case sent
    /// Refused for good by the server or gateway; the DPO is told.
    case failed
    /// A crash interrupted a send and `notices.resend_in_doubt` is off: not sent again.
    case inDoubt = "in_doubt"
    case cancelled

    /// Whether the notice is finished with: nothing more will be sent for it.
    public var isFinal: Bool { self == .sent || self == .failed || self == .inDoubt || self == .cancelled }
}
