/// What a job of some kinds reads first, loaded with its claim: a row of `dsr.requests` (the
/// pipeline's steps each begin by reading their request). Loaded in the claim's own statement,
/// it costs no statement and no round trip of its own.
///
/// `selectList` is read over `dsr.requests AS r` (joined on the job's `request_id`); every
/// name it gives must start with ``prefix``, so none collides with the job's own columns.
/// The handler finds the row in ``Job/context`` and decodes it as it would have decoded its
/// own query's.
public struct ClaimContext: Sendable {
    /// The start of every column name of `selectList`.
    public static let prefix = "context_"
    /// The column the claim adds: true when the job's request was found.
    static let found = prefix + "found"

    /// Job kinds (`dsr.jobs.kind`) that get the row.
    public let kinds: [String]
    public let selectList: String
    /// The claim statement that reads it (``QueueStore/claimStatement(selectList:)``).
    let claimStatement: String

    public init(kinds: [String], selectList: String) {
        self.kinds = kinds
        self.selectList = selectList
        claimStatement = QueueStore.claimStatement(selectList: selectList)
    }
}
