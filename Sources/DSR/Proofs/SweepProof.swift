import Foundation

/// The signed payload of a retention sweep's proof: what was deleted or anonymised, per
/// store and table, under which rule, as of when. No personal data (counts only). Signed and
/// chained like a deletion proof (`DeletionProofFile` with format `dsrd-retention-sweep`).
public struct SweepProofPayload: Codable, Sendable, Equatable {
    public var formatVersion = 1
    public var sweepID: String
    public var dsrdVersion: String
    public var startedAt: String
    /// The time retention was counted against.
    public var asOf: String
    public var stores: [StoreSweep]

    public static let format = "dsrd-retention-sweep"

    enum CodingKeys: String, CodingKey {
        case stores
        case formatVersion = "format_version"
        case sweepID = "sweep_id"
        case dsrdVersion = "dsrd_version"
        case startedAt = "started_at"
        case asOf = "as_of"
    }

}
