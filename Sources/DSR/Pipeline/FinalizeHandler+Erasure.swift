import Foundation
import Postgres

extension FinalizeHandler {
    /// Builds the deletion proof from what the store tasks recorded, signs it, appends its
    /// digest to the audit chain, writes the proof file, and completes the request. Every
    /// input comes from the database, so a re-run signs the same payload and lands on the
    /// same audit entry.
    func finalizeErasure(_ request: FanOut.RequestRow, context: JobContext) async throws -> JobResult {
        let keys = try fanOut.requireProofKeys()
        // What the store tasks recorded, and the person's earlier exports (they go with their
        // data; the proof lists them): read in one exchange.
        let read = try await fanOut.pool.withConnection { connection in
            try await connection.queryEach([
                (
                    """
                    SELECT store, plan::text AS plan, committed_plans::text AS committed, outcome::text AS outcome, finished_at
                      FROM dsr.request_tasks WHERE request_id = $1 AND operation = 'erase' ORDER BY store
                    """, [request.id]
                ),
                ("SELECT id, export_file FROM dsr.exports_of_erased_person($1)", [request.id]),
            ])
        }
        let (rows, exports) = (read[0], read[1])
        var stores: [DeletionProofPayload.Store] = []
        // Rows earlier committed attempts deleted are gone; what they anonymised or kept is
        // counted again, as it stands now, in the last attempt's tables.
        var deletedEarlier = 0
        var manualTasks: [ManualTaskRecord] = []
        var processors: [ProcessorWebhook.Acknowledgement] = []
        for row in rows {
            let store = try row.decode("store", as: String.self)
            let other = TaskOutcomeKind.read(try row.decode("outcome", as: String?.self))
            if let manual = other?.manualRecord(store: store) {
                manualTasks.append(manual)
                continue
            }
            if let processor = other?.processor {
                processors.append(processor)
                continue
            }
            var committed = try StoreErasure.committed(try row.decode("committed", as: String?.self))
            // An attempt whose check passed after an overlapping one set the same plan aside.
            guard let plan = try StoreErasure.recorded(try row.decode("plan", as: String?.self)) ?? committed.popLast(),
                let outcomeText = try row.decode("outcome", as: String?.self)
            else { throw JobFailure.permanent("store task \(store) has no recorded outcome") }
            let outcome = try JSONDecoder().decode(StoreTaskHandler.ErasureOutcome.self, from: Data(outcomeText.utf8))
            deletedEarlier += committed.reduce(0) { $0 + $1.deleted }
            var proven = DeletionProofPayload.Store(
                name: plan.store, erasedAt: Self.iso(try row.decode("finished_at", as: Date.self)), tables: plan.tables,
                suppressionEntries: plan.suppressionEntries, postErasureDiscovery: outcome.discovery,
                postErasureNotAnonymised: outcome.notAnonymised)
            if !committed.isEmpty {
                proven.earlierAttempts = committed.map { .init(tables: $0.tables, suppressionEntries: $0.suppressionEntries) }
            }
            stores.append(proven)
        }
        var exportsDeleted: [UUID] = []
        for row in exports {
            try ExportFiles.delete(try row.decode("export_file", as: String.self), in: fanOut.exportDirectory)
            exportsDeleted.append(try row.decode("id", as: UUID.self))
        }
        let identity = request.resolved ?? request.given
        var payload = DeletionProofPayload(
            requestID: request.id.uuidString.lowercased(), dsrdVersion: DSRVersion.current, receivedAt: Self.iso(request.receivedAt),
            subject: Dictionary(
                uniqueKeysWithValues: identity.kinds.map { kind in
                    (kind.rawValue, identity[kind].sorted().map(keys.identifierHash))
                }),
            stores: stores)
        if !exportsDeleted.isEmpty { payload.exportsDeleted = exportsDeleted.map { $0.uuidString.lowercased() }.sorted() }
        if !manualTasks.isEmpty { payload.manualTasks = manualTasks }
        if !processors.isEmpty { payload.processors = processors }
        var file = try DeletionProofFile.sign(payload, with: keys)
        let digest = file.payloadSHA256
        // The append's own transaction commits without waiting for its WAL to reach the disk
        // (`synchronous_commit` off for it alone). The audit log stays locked until that
        // commit, so a flush there queued every erasure's last step behind the disk, one at a
        // time. Durability is unchanged: the request completes in a later transaction that
        // does wait, and the WAL is written in order, so that flush covers this commit too; a
        // crash before it runs this step again, which finds or appends the entry again
        // (idempotent) and rewrites the proof file.
        let row = try await fanOut.pool.withConnection { connection in
            try await connection.query(
                "SELECT a.seq, a.prev_hash, a.entry_hash FROM dsr.append_audit($1, $2) AS a, set_config('synchronous_commit', 'off', true)",
                [request.id, digest])[0]
        }
        let entry = DeletionProofFile.AuditEntry(
            seq: try row.decode("seq", as: Int64.self), prevHash: try row.decode("prev_hash", as: String.self),
            entryHash: try row.decode("entry_hash", as: String.self))
        file.audit = entry
        Failpoints.hit("finalize.after_audit_append")
        let data = try file.encoded()
        try fanOut.prepareDirectories()
        let path = fanOut.proofDirectory.appendingPathComponent("\(request.id.uuidString.lowercased()).json")
        try data.write(to: path, options: .atomic)
        try FileManager.default.setAttributes([.posixPermissions: 0o640], ofItemAtPath: path.path)

        Failpoints.hit("finalize.after_proof_written")
        let tables = stores.flatMap(\.tables)
        func total(_ count: (StoreErasure.Table) -> Int) -> Int { tables.reduce(0) { $0 + count($1) } }
        let erased = total(\.erased) + deletedEarlier
        var outcome = CompletionOutcome(
            proofSHA256: file.payloadSHA256, proofPath: path.path, auditSeq: entry.seq, rowsErased: erased, rowsHeld: total(\.kept),
            stores: (stores.map(\.name) + manualTasks.map(\.store)).sorted().joined(separator: ", "))
        outcome.manualTasks = manualTasks.isEmpty ? nil : manualTasks
        outcome.processors = processors.isEmpty ? nil : processors
        outcome.rowsDeleted = total(\.deleted) + deletedEarlier
        outcome.rowsAnonymised = total(\.anonymised)
        outcome.rowsHeldAnonymised = total(\.heldAnonymised)
        outcome.rowsHeldUnchanged = total(\.heldUnchanged)
        func held(_ reason: StoreErasure.Held.Reason) -> Int {
            tables.flatMap(\.held).filter { $0.reason == reason }.reduce(0) { $0 + $1.rows }
        }
        outcome.rowsHeldByRule = held(.rule)
        outcome.rowsHeldReferenced = held(.referenced)
        outcome.rowsKeptByMapping = held(.mapping)
        let rules = Set(tables.flatMap(\.held).map(\.rule)).sorted()
        outcome.heldRules = rules.isEmpty ? nil : rules
        if !exportsDeleted.isEmpty { outcome.exportsDeleted = exportsDeleted.count }
        if erased + total(\.kept) == 0, exportsDeleted.isEmpty, !manualTasks.contains(where: \.holdsSomething) {
            outcome.nothingHeld = true
        }
        outcome.sharedPhoneLeftOut = request.sharedPhoneLeftOut ? true : nil
        let json = try outcome.json()
        context.logger.info("deletion proof signed", metadata: ["dsr.audit_seq": "\(entry.seq)", "dsr.rows": "\(erased)"])
        return JobResult(
            effects: exportsDeleted.map { SQLStatement("SELECT dsr.record_export_deleted($1, 'erased', $2)", [$0, request.id]) } + [
                SQLStatement(
                    """
                    INSERT INTO dsr.proofs (request_id, proof, sha256, key_id) VALUES ($1, $2, $3, $4)
                    ON CONFLICT (request_id) DO UPDATE SET proof = EXCLUDED.proof, sha256 = EXCLUDED.sha256, key_id = EXCLUDED.key_id, signed_at = now()
                    """, [request.id, String(decoding: data, as: UTF8.self), file.payloadSHA256, file.keyID]),
                SQLStatement("SELECT dsr.complete_request($1, $2::jsonb)", [request.id, json]),
            ])
    }

    static func iso(_ date: Date) -> String { DateTexts.iso(date) }
}
