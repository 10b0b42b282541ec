/// Where a request is in its life cycle (`dsr.requests.status`).
public enum RequestStatus: String, Sendable, CaseIterable, Codable {
    case received
    case inProgress = "in_progress"
    /// A store is down; its task retries.
    case waiting
    /// On hold until the person's identity is verified (`dsr.resume_request`).
    case awaitingVerification = "awaiting_verification"
    case completed
    case refused
    case cancelled

    /// Whether work may be done for the request now: not on hold, not ended.
    public var allowsWork: Bool { self == .received || self == .inProgress || self == .waiting }
}
