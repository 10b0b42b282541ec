import Logging

/// At start, checks each PostgreSQL store's mapping against its catalog (the errors `dsrd
/// check` reports: a table or column that is not there, a type its use cannot have), and
/// asks the store which of dsrd's lookups no index serves (what `dsrd indexes` prints), and
/// logs what it finds: a mapping error fails every request that reaches the store, and
/// without an index every request reads the whole table; nothing else would say so before
/// the first request. A store whose phone index predates migration 0027 made access
/// requests about seven times slower here, silently.
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
                let errors = checker.mappingFindings(schema: try await checker.schema()).filter { $0.severity == .error }
                if !errors.isEmpty {
                    // Its statements name what is not there: the lookups cannot be planned either.
                    logger.error(
                        "the store's mapping does not fit the store: requests that reach it fail until the mapping or the store is fixed; `dsrd check --store \(store)` says more",
                        metadata: [
                            "dsr.store": "\(store)",
                            "dsr.problems": "\(errors.map { "\($0.table ?? "-"): \($0.message)" }.joined(separator: "; "))",
                        ])
                    events.emit(.storeIndexesChecked(store: store, missing: nil))
                    continue
                }
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
