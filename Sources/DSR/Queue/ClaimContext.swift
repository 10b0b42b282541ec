import Postgres

/// What jobs of some kinds read first, loaded with their claim: the pipeline's steps each
/// begin by reading their request's row of `dsr.requests`, a notice its row of `dsr.outbox`.
/// Loaded in the claim's own statement, it costs no statement and no round trip of its own.
///
/// Each ``Part`` is read for the jobs of its kinds through a lateral subquery of the claim,
/// which names the claimed job ``job`` (`c.request_id`, `c.payload`, as `dsr.jobs` names
/// them). Every column a part gives starts with its ``Part/prefix``, so none collides with the
/// job's own columns or another part's. The handler finds the row in ``Job/context`` and
/// decodes it as it would have decoded its own query's (``Job/claimedRow(_:)``).
public struct ClaimContext: Sendable {
    public struct Part: Sendable {
        /// Job kinds (`dsr.jobs.kind`) that get this part.
        public let kinds: [String]
        /// The start of every column name of `selectList`; the claim adds `<prefix>found`,
        /// true when the part's row was found.
        public let prefix: String
        /// `FROM` and `WHERE` of the part's row, naming the claimed job ``ClaimContext/job``.
        public let source: String
        public let selectList: String

        public init(kinds: [String], prefix: String, source: String, selectList: String) {
            self.kinds = kinds
            self.prefix = prefix
            self.source = source
            self.selectList = selectList
        }

        var found: String { prefix + "found" }
    }

    /// The claimed job's alias in the claim statement.
    public static let job = "c"

    public let parts: [Part]
    /// The claim statement that reads them (``QueueStore/claimStatement(parts:)``).
    let claimStatement: String

    public init(_ parts: [Part]) {
        self.parts = parts
        claimStatement = QueueStore.claimStatement(parts: parts)
    }
}

extension Job {
    /// The row the claim read for this job, when it holds the part of its context whose
    /// columns start with `prefix`; nil otherwise.
    public func claimedRow(_ prefix: String) -> PostgresRow? {
        guard let context, (try? context.isNull(prefix + "found")) == false else { return nil }
        return context
    }
}
