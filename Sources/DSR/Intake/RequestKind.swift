/// The rights a person can exercise under PDPA ss.30-36, one per request kind.
public enum RequestKind: String, Sendable, CaseIterable, Codable {
    case access
    case portability
    case erasure
    case rectification
    case restriction
    case objection
    case consentWithdrawal = "consent_withdrawal"
}
