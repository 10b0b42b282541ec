/// What a request's store tasks do in each store (`dsr.request_tasks.operation`).
public enum StoreOperation: String, Sendable, CaseIterable, Codable {
    case export
    case erase
    case rectify
    case restrict
    /// Objection and consent withdrawal: stop the processing named by the purposes.
    case object

    /// The operation a kind of request runs.
    public init(for kind: RequestKind) {
        switch kind {
        case .access, .portability: self = .export
        case .erasure: self = .erase
        case .rectification: self = .rectify
        case .restriction: self = .restrict
        case .objection, .consentWithdrawal: self = .object
        }
    }

    /// Changes data in place (answered with a change report, not a ZIP or a proof).
    public var isChange: Bool { self == .rectify || self == .restrict || self == .object }
}
