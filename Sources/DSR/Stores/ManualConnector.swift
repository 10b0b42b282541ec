import Foundation

/// A store only a person can reach (paper records, a processor's web portal): dsrd cannot
/// search or change it, so every request's work there becomes a manual task for its owner
/// (`StoreTaskHandler.openManualTask`). It matches nobody when a person is being identified
/// and is never read or changed directly.
public struct ManualConnector: Connector {
    public let mapping: StoreMapping

    public init(mapping: StoreMapping) { self.mapping = mapping }

    public func resolve(_ identity: IdentitySet) async throws -> Resolution { Resolution(identity: IdentitySet(), matches: 0) }

    public func discover(_ identity: IdentitySet) async throws -> [String: Int] { throw notByDSRD }

    public func export(_ identity: IdentitySet, into directory: URL, formats: ExportFormats) async throws -> [ExportedFile] {
        throw notByDSRD
    }

    public func erase(
        _ identity: IdentitySet, keys: ProofKeys, record: @Sendable (StoreErasure) async throws -> Void
    ) async throws -> StoreErasure { throw notByDSRD }

    public func remainder(_ identity: IdentitySet) async throws -> [String: StoreErasure.Remainder] { throw notByDSRD }

    public func update(_ identity: IdentitySet, change: StoreChange, beforeCommit: @Sendable () async throws -> Void) async throws
        -> StoreUpdate
    { throw notByDSRD }

    var notByDSRD: JobFailure { .permanent("store \(mapping.name) is a manual store: its owner does the work (dsr.manual_tasks)") }
}
