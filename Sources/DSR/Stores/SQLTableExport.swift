import Foundation
import Postgres
import Synchronization

/// The tables of one person's export from a SQL store, shared by the connections that copy
/// them: each connection takes the next table nobody has taken yet, so a large export's
/// tables are read side by side on connections that share one snapshot.
final class SQLTableExport: Sendable {
    struct Table: Sendable {
        let name: String
        /// `COPY (SELECT ...) TO STDOUT`, its values read from settings (`current_setting`).
        let sql: String
        /// The same `SELECT` with bound parameters, for ``selectRemaining(on:)``.
        let select: String
        let parameters: [any PostgresEncodable]
        let columns: [String]
        let kinds: [TableFileWriter.FieldKind]
    }

    let tables: [Table]
    private let pack: StagingPack
    private let formats: ExportFormats
    private let state = Mutex(State())

    private struct State {
        var next = 0
        var files: [Int: [ExportedFile]] = [:]
        var failed = false
    }

    init(tables: [Table], directory: URL, store: String, formats: ExportFormats) {
        self.tables = tables
        pack = StagingPack(directory: directory, store: store)
        self.formats = formats
    }

    /// Tables nobody has taken yet.
    var untaken: Int { state.withLock { tables.count - $0.next } }

    /// The files written, in the mapping's table order.
    var files: [ExportedFile] { state.withLock { state in tables.indices.flatMap { state.files[$0] ?? [] } } }

    /// Copies the next untaken table on `connection`, in the transaction open on it; returns
    /// its row count, or nil when none is left or another connection failed.
    @discardableResult
    func copyNext(on connection: isolated PostgresConnection) throws -> Int? {
        let taken = state.withLock { state -> Int? in
            guard !state.failed, state.next < tables.count else { return nil }
            defer { state.next += 1 }
            return state.next
        }
        guard let index = taken else { return nil }
        do {
            let files = try copy(tables[index], on: connection)
            state.withLock { $0.files[index] = files }
            return files.first?.rows ?? 0
        } catch {
            state.withLock { $0.failed = true }
            throw error
        }
    }

    /// Copies untaken tables on `connection` until none is left.
    func copyRemaining(on connection: isolated PostgresConnection) throws {
        while try copyNext(on: connection) != nil {}
    }

    /// Reads every untaken table on `connection` with its prepared `SELECT`, whose plan the
    /// connection keeps (a person's few rows: a `COPY` is parsed, analysed and planned every
    /// time, which costs more than reading them), all in one exchange with the store. The
    /// tables' rows arrive one table after another, so one file is open at a time, as when
    /// they were read one by one. `committing`: the reads end the transaction open on the
    /// connection, its COMMIT going in the same exchange.
    func selectRemaining(on connection: isolated PostgresConnection, committing: Bool = false) throws {
        let taken = state.withLock { state -> Range<Int> in
            defer { state.next = tables.count }
            return state.failed ? state.next..<state.next : state.next..<tables.count
        }
        guard !taken.isEmpty else { return }
        do {
            // The table whose rows arrive now; the tables before it are finished (those
            // without rows too).
            var current = taken.lowerBound
            var writer = try startWriter(tables[current])
            func finishCurrent() throws {
                let files = try writer.finish()
                state.withLock { [current] in $0.files[current] = files }
            }
            try connection.streamPreparedEach(taken.map { (tables[$0].select, tables[$0].parameters) }, committing: committing) {
                offset, row in
                while current < taken.lowerBound + offset {
                    try finishCurrent()
                    current += 1
                    writer = try startWriter(tables[current])
                }
                try writer.write(columns: tables[current].columns, kinds: tables[current].kinds, row: row)
            }
            try finishCurrent()
            for index in (current + 1)..<taken.upperBound {  // the tables after the last row, without rows
                current = index
                writer = try startWriter(tables[index])
                try finishCurrent()
            }
        } catch {
            state.withLock { $0.failed = true }
            throw error
        }
    }

    /// A file (or two, for portability) for `table`'s rows, its header written.
    private func startWriter(_ table: Table) throws -> TableFileWriter {
        let writer = try TableFileWriter(pack: pack, table: table.name, formats: formats)
        writer.start(columns: table.columns)
        return writer
    }

    private func copy(_ table: Table, on connection: isolated PostgresConnection) throws -> [ExportedFile] {
        let writer = try startWriter(table)
        let scratch = CopyScratch()
        var fields: [(start: Int, end: Int)] = []
        fields.reserveCapacity(table.columns.count)
        try connection.copyOut(table.sql) { line in
            let row = CopyTextRow(line, reusing: &fields)
            // A column added since the catalog was read: read it again, try again.
            guard row.fields.count == table.columns.count else {
                throw PostgresError(kind: .server, sqlState: "42P10", message: "\(table.name) has changed shape")
            }
            try writer.write(columns: table.columns, kinds: table.kinds, row: CopyRowFields(row: row, scratch: scratch))
        }
        return try writer.finish()
    }
}
