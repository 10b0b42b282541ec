import Logging

/// At start, asks each PostgreSQL store which of dsrd's lookups no index serves (what
/// `dsrd indexes` prints) and warns about them: without the index every request reads the
/// whole table, and nothing else would say so. A store whose phone index predates migration
/// 0027 made access requests about seven times slower here, silently.
///
/// Runs beside the daemon's services and never holds them up: a store that cannot be reached,
/// or whose tables stay locked for longer than ``lockTimeout``, is noted and skipped (its
/// requests wait for it as usual).
struct StoreIndexCheck: Sendable {
    let connectors: [SQLConnector]
    /// Identifier kinds configured beyond the built-in ones (`identifiers.extra_kinds`).
    let extraKinds: [IdentityKind]
    let events: DaemonEvents
    let logger: Logger

    /// How long the check waits for a table another session holds exclusively (a store
    /// migration at start-up) before it gives up on that store.
    static let lockTimeout: Duration = .seconds(2)

    func run() async {
        for connector in connectors {
            if Task.isCancelled { return }
            let store = connector.mapping.name
            do {
                // A connection of its own, bounded: the workers' connections stay theirs, and a
                // table locked by a store migration is given up on instead of waited for.
                let checker = SQLConnector(
                    mapping: connector.mapping, maxConnections: 1,
                    settings: [("lock_timeout", "\(Self.lockTimeout.milliseconds)ms"), ("statement_timeout", "30s")])
                let lookups = try await checker.lookupIndexes(extraKinds: extraKinds)
                let missing = lookups.filter { !$0.isServed }
                if !missing.isEmpty {
                    logger.warning(
                        "store lookups without an index: each request reads these tables whole; apply what `dsrd indexes --store \(store)` prints",
                        metadata: [
                            "dsr.store": "\(store)",
                            "dsr.lookups": "\(missing.map { "\($0.table): \($0.lookup)" }.joined(separator: "; "))",
                        ])
                }
                events.emit(.storeIndexesChecked(store: store, missing: missing.count))
            } catch {
                logger.notice(
                    "could not check the store's indexes", metadata: ["dsr.store": "\(store)", "dsr.error": "\(error)"])
                events.emit(.storeIndexesChecked(store: store, missing: nil))
            }
        }
    }
}
