import Foundation
import Logging
import Postgres

/// Job kind `finalize`: once every store task is done, assembles the answer and completes
/// the request (which queues the person's notice and the DPO's report) in the same
/// transaction as the job.
///
/// Assembling an export is idempotent at every step, because a crash can stop it anywhere:
///
/// 1. the ZIP is written as `.<name>.<job>-<attempt>.partial` (a re-run writes its own);
/// 2. it is put in place as `<name>`, the name chosen at planning, unless another attempt
///    (one that lost its lease while paused) put this request's bundle there first: then
///    that one is kept, and its digests recorded;
/// 3. the staging folder is removed;
/// 4. the request is completed, with the job, in one transaction.
///
/// A re-run that finds `<name>` already holding this request's bundle for exactly the files
/// the tasks recorded uses it as it is (after 2, 3, or a crash before 4 committed). A re-run
/// that finds neither the bundle nor the staged files (lost with a disk) exports those stores
/// again instead of failing for ever.
public struct FinalizeHandler: JobHandler {
    let fanOut: FanOut

    public init(fanOut: FanOut) { self.fanOut = fanOut }

    public func handle(_ job: Job, context: JobContext) async throws -> JobResult {
        guard let requestID = job.requestID else { throw JobFailure.permanent("finalize job \(job.id) has no request_id") }
        let request = try await fanOut.loadRequest(for: job, id: requestID)
        if request.restrictedWhileDeciding && (request.status == .refused || request.status == .cancelled) {
            return JobResult(effects: [try await liftRestriction(request)])  // decided against: the restriction goes
        }
        guard request.status.allowsWork else { return .none }  // ended, or on hold (resuming queues finalize again)
        if request.kind == .erasure { return try await finalizeErasure(request, context: context) }
        if request.operation != .export { return try await finalizeChange(request) }
        return try await finalizeExport(request, job: job, context: context)
    }

    func finalizeExport(_ request: FanOut.RequestRow, job: Job, context: JobContext) async throws -> JobResult {
        let tasks = try await fanOut.pool.withConnection { connection in
            try await connection.query(
                """
                SELECT store, coalesce(files, '[]')::text AS files, outcome::text AS outcome
                  FROM dsr.request_tasks WHERE request_id = $1 ORDER BY store
                """, [request.id])
        }
        var files: [ExportedFile] = []
        var filesByStore: [String: [ExportedFile]] = [:]
        var manualTasks: [ManualTaskRecord] = []
        for task in tasks {
            if let manual = TaskOutcomeKind.read(try task.decode("outcome", as: String?.self))?.manualRecord(
                store: try task.decode("store", as: String.self))
            {
                manualTasks.append(manual)
                continue
            }
            let stored = try JSONDecoder().decode([ExportedFile].self, from: Data(try task.decode("files", as: String.self).utf8))
            filesByStore[try task.decode("store", as: String.self)] = stored
            files += stored
        }
        files.sort { $0.path < $1.path }
        guard let name = request.exportFile else {
            throw JobFailure.permanent("request \(request.id) has no export file name; it was not planned")
        }
        try fanOut.prepareDirectories()
        let staging = fanOut.staging(for: request.id)
        let destination = fanOut.exportDirectory.appendingPathComponent(name)
        let bundle = ExportBundle(
            requestID: request.id, kind: request.kind, language: request.locale, stores: fanOut.connectors.map(\.mapping),
            files: files, timeZone: fanOut.timeZone, company: fanOut.company, manualTasks: manualTasks)
        let result: ExportBundle.Result
        if let assembled = bundle.existing(at: destination) {
            result = assembled
            context.logger.info("export already assembled by an earlier attempt")
        } else {
            let lost = filesByStore.filter { _, stored in !stored.allSatisfy { ExportBundle.isStaged($0, in: staging) } }.keys.sorted()
            if !lost.isEmpty { return restage(request.id, stores: lost, context: context) }
            result = try bundle.write(staging: staging, to: destination, attempt: .init(job: job.id, number: job.attempt))
            Failpoints.hit("finalize.after_rename")
        }
        FileSystem.removeFolder(staging.path)
        Failpoints.hit("finalize.after_staging_removed")
        context.logger.info("export assembled", metadata: ["dsr.rows": "\(result.rows)", "dsr.bytes": "\(result.size)"])
        var outcome = CompletionOutcome(
            exportFile: name, exportPath: result.path, exportSize: result.size, exportSHA256: result.sha256,
            manifestSHA256: result.manifestSHA256, rowsExported: result.rows,
            stores: fanOut.connectors.map(\.mapping.name).joined(separator: ", "))
        outcome.manualTasks = manualTasks.isEmpty ? nil : manualTasks
        if result.rows == 0 && !manualTasks.contains(where: \.holdsSomething) { outcome.nothingHeld = true }
        outcome.sharedPhoneLeftOut = request.sharedPhoneLeftOut ? true : nil
        return JobResult(effects: [SQLStatement("SELECT dsr.complete_request($1, $2::jsonb)", [request.id, try outcome.json()])])
    }

    /// The staged files of `stores` are gone and no bundle was assembled from them: those
    /// stores are exported again, and their last task queues the assembly anew.
    func restage(_ requestID: UUID, stores: [String], context: JobContext) -> JobResult {
        context.logger.warning("staged export files are missing; exporting those stores again", metadata: ["dsr.stores": "\(stores)"])
        return JobResult(effects: [
            SQLStatement(
                """
                UPDATE dsr.request_tasks SET state = 'pending', files = NULL, rows = NULL, outcome = NULL, finished_at = NULL,
                       last_error = 'staged files were missing at assembly; exported again'
                 WHERE request_id = $1 AND store = ANY($2::text[])
                """, [requestID, stores]),
            SQLStatement(
                "INSERT INTO dsr.jobs (kind, request_id, payload) SELECT 'store_task', $1, jsonb_build_object('store', s) FROM unnest($2::text[]) AS s",
                [requestID, stores]),
        ])
    }

    /// Completes a rectification, restriction, objection or withdrawal with what each store
    /// did (rows, and for rectification digests of the values before and after, never the values).
    func finalizeChange(_ request: FanOut.RequestRow) async throws -> JobResult {
        let rows = try await fanOut.pool.withConnection { connection in
            try await connection.query(
                "SELECT store, outcome::text AS outcome FROM dsr.request_tasks WHERE request_id = $1 ORDER BY store", [request.id])
        }
        var outcome = CompletionOutcome(
            stores: try rows.map { try $0.decode("store", as: String.self) }.filter { !$0.hasPrefix(StoreMapping.Processor.taskPrefix) }
                .joined(separator: ", "))
        var changes: [StoreUpdate] = []
        var manualTasks: [ManualTaskRecord] = []
        var processors: [ProcessorWebhook.Acknowledgement] = []
        for row in rows {
            guard let text = try row.decode("outcome", as: String?.self) else {
                throw JobFailure.permanent("request \(request.id): a store task finished without an outcome")
            }
            let other = TaskOutcomeKind.read(text)
            if let manual = other?.manualRecord(store: try row.decode("store", as: String.self)) {
                manualTasks.append(manual)
            } else if let processor = other?.processor {
                processors.append(processor)
            } else {
                changes.append(try JSONDecoder().decode(StoreTaskHandler.ChangeOutcome.self, from: Data(text.utf8)).update)
            }
        }
        outcome.changes = changes
        outcome.manualTasks = manualTasks.isEmpty ? nil : manualTasks
        outcome.processors = processors.isEmpty ? nil : processors
        // Decided and applied: the restriction made while it was decided goes.
        let lift = request.restrictedWhileDeciding ? [try await liftRestriction(request)] : []
        outcome.rowsChanged = changes.flatMap(\.tables).reduce(0) { $0 + $1.changedRows }
        let touched = changes.flatMap(\.tables).contains {
            $0.rows > 0 || ($0.matched ?? 0) > 0 || $0.wasNotApplied
        }
        if !touched, !manualTasks.contains(where: \.holdsSomething), try await Self.nobodyFound(request.id, pool: fanOut.pool) {
            outcome.nothingHeld = true
        }
        outcome.sharedPhoneLeftOut = request.sharedPhoneLeftOut ? true : nil
        if case .rectify(let requested) = try? request.change(rectifiable: fanOut.rectifiableFields) {
            let correctable = Dictionary(fanOut.connectors.map { ($0.mapping.name, $0.mapping.rectifyFields) }) { $0.union($1) }
            let notHeld = Self.fieldsNotHeld(Set(requested.keys), updates: changes, correctable: correctable)
            outcome.fieldsNotHeld = notHeld.isEmpty ? nil : notHeld
        }
        return JobResult(effects: lift + [SQLStatement("SELECT dsr.complete_request($1, $2::jsonb)", [request.id, try outcome.json()])])
    }
}

extension FinalizeHandler {
    /// Whether planning found nobody under the identifiers given (`nobody_found`).
    static func nobodyFound(_ requestID: UUID, pool: ConnectionPool) async throws -> Bool {
        try await pool.withConnection { connection in
            try await connection.query(
                "SELECT EXISTS (SELECT 1 FROM dsr.request_events WHERE request_id = $1 AND step = 'nobody_found') AS found", [requestID]
            )[0].decode("found", as: Bool.self)
        }
    }

    /// The fields of a rectification that no store holds for the person: nothing could be
    /// corrected, and the person and the DPO are told so instead of "done". A store that does
    /// not say which field it changed (HTTP) holds every field it can correct (every field,
    /// when its mapping lists none) once it changed any row.
    static func fieldsNotHeld(_ requested: Set<String>, updates: [StoreUpdate], correctable: [String: Set<String>]) -> [String] {
        var held = Set<String>()
        for update in updates {
            for table in update.tables
            where table.action == "rectified" || table.wasNotApplied || table.field == nil {
                if let field = table.field {
                    if table.wasNotApplied || (table.matched ?? table.rows) > 0 { held.insert(field) }
                } else if table.rows > 0 {
                    // A store whose mapping lists no `rectify` columns takes every change.
                    let fields = correctable[update.store] ?? []
                    held.formUnion(fields.isEmpty ? requested : fields)
                }
            }
        }
        return requested.subtracting(held).sorted()
    }
}

/// What a completed access, portability or erasure request records in `dsr.requests.result`
/// (and hands to the notices). No personal data.
struct CompletionOutcome: Codable, Sendable {
    var exportFile: String?
    var exportPath: String?
    var exportSize: Int?
    var exportSHA256: String?
    var manifestSHA256: String?
    var proofSHA256: String?
    var proofPath: String?
    var auditSeq: Int64?
    var rowsExported = 0
    /// Deleted plus anonymised (on purpose or because kept): rows that no longer identify the person.
    var rowsErased = 0
    /// Rows a rule keeps, anonymised or unchanged.
    var rowsHeld = 0
    var rowsDeleted: Int?
    var rowsAnonymised: Int?
    var rowsHeldAnonymised: Int?
    var rowsHeldUnchanged: Int?
    /// Of `rowsHeld`, by why they were kept (``StoreErasure/Held/Reason``): a rule the company
    /// must follow, kept rows referring to them, the mapping's `_row = "keep"`.
    var rowsHeldByRule: Int?
    var rowsHeldReferenced: Int?
    var rowsKeptByMapping: Int?
    /// Erasure: why rows were kept, each rule as the proof states it (for the DPO).
    var heldRules: [String]?
    /// Rectification, restriction, objection, withdrawal: what each store did, and the rows changed.
    var changes: [StoreUpdate]?
    var rowsChanged: Int?
    /// Rectification: the fields asked for that no store holds for the person.
    var fieldsNotHeld: [String]?
    /// Erasure: earlier exports of the person that were deleted with their data.
    var exportsDeleted: Int?
    /// Manual stores: what each owner recorded.
    var manualTasks: [ManualTaskRecord]?
    /// Processors told of the request, with their acknowledgements.
    var processors: [ProcessorWebhook.Acknowledgement]?
    /// No store, and no owner checking by hand, holds anything of the person under the
    /// identifiers given: the person is told so, not that their data was erased or copied.
    var nothingHeld: Bool?
    /// The person's phone is on another customer's record too: rows found by it alone were
    /// left out (neither exported nor changed), and the person and the DPO are told so.
    var sharedPhoneLeftOut: Bool?
    var stores: String

    enum CodingKeys: String, CodingKey {
        case exportFile = "export_file"
        case exportPath = "export_path"
        case exportSize = "export_size"
        case exportSHA256 = "export_sha256"
        case manifestSHA256 = "manifest_sha256"
        case proofSHA256 = "proof_sha256"
        case proofPath = "proof_path"
        case auditSeq = "audit_seq"
        case rowsExported = "rows_exported"
        case rowsErased = "rows_erased"
        case rowsHeld = "rows_held"
        case rowsDeleted = "rows_deleted"
        case rowsAnonymised = "rows_anonymised"
        case rowsHeldAnonymised = "rows_held_anonymised"
        case rowsHeldUnchanged = "rows_held_unchanged"
        case rowsHeldByRule = "rows_held_by_rule"
        case rowsHeldReferenced = "rows_held_referenced"
        case rowsKeptByMapping = "rows_kept_by_mapping"
        case heldRules = "held_rules"
        case changes
        case rowsChanged = "rows_changed"
        case fieldsNotHeld = "fields_not_held"
        case exportsDeleted = "exports_deleted"
        case manualTasks = "manual_tasks"
        case processors
        case nothingHeld = "nothing_held"
        case sharedPhoneLeftOut = "shared_phone_left_out"
        case stores
    }

    func json() throws -> String { try CanonicalJSON.string(self) }
}
