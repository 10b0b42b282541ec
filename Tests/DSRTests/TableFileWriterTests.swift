import DSRTestSupport
import Foundation
import Postgres
import TestSupport
import Testing

@testable import DSR

/// The byte-level JSON/CSV encoder against values a real PostgreSQL sends, through both
/// streaming paths (cursor inside a transaction, single-row mode outside one).
@Suite("Export file encoding")
struct TableFileWriterTests {
    static let hostileText = "quote \" backslash \\ newline\n cr\r tab\t bell\u{07} unit\u{1F} ls\u{2028} ps\u{2029} ไทย 🇹🇭 comma, end"

    static let query = """
        SELECT $1::text AS note, 42::int8 AS count, -1.50::numeric AS amount, 'NaN'::float8 AS nan,
               '-Infinity'::float8 AS minus_infinity, true AS yes, false AS no, NULL::text AS nothing,
               '{"a": [1, "x\\"y"]}'::jsonb AS doc, '\\xdeadbeef'::bytea AS scan,
               '2026-11-25 11:40:06.5+00'::timestamptz AS at, '2026-11-25 11:40:06'::timestamp AS local_at,
               '2026-11-25'::date AS day
        """

    static func export(inTransaction: Bool) async throws -> (json: [[String: Any]], csv: String) {
        let (json, csv) = try await exportFiles(inTransaction: inTransaction)
        return (try #require(try JSONSerialization.jsonObject(with: json) as? [[String: Any]]), csv)
    }

    static func exportFiles(inTransaction: Bool) async throws -> (json: Data, csv: String) {
        try await TestDatabase.with { database in
            let connection = try await database.connect()
            try await connection.execute("SET TIME ZONE 'UTC'")
            let directory = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: directory) }
            let files: [ExportedFile] = try await connection.transactionIf(inTransaction) { connection in
                let writer = try TableFileWriter(pack: StagingPack(directory: directory, store: "s"), table: "t", formats: [.json, .csv])
                for _ in 0..<2 {
                    try connection.stream(query, [hostileText], fetchSize: 1) { row in
                        try writer.write(
                            columns: row.columns, kinds: row.columnTypes.map(TableFileWriter.FieldKind.init(postgresType:)), row: row)
                    }
                }
                return try writer.finish()
            }
            #expect(files.map(\.rows) == [2, 2])
            let json = try StagedFiles.contents(of: "s/t.json", in: directory, files: files)
            #expect(Digests.sha256Hex(json) == files[0].sha256)
            // Escaped, so the file is also valid JavaScript; control characters never raw.
            #expect(json.range(of: Data("\u{2028}".utf8)) == nil && json.range(of: Data("\u{2029}".utf8)) == nil)
            #expect(!json.contains(where: { $0 < 0x20 && $0 != UInt8(ascii: "\n") }))
            return (json, String(decoding: try StagedFiles.contents(of: "s/t.csv", in: directory, files: files), as: UTF8.self))
        }
    }

    @Test(arguments: [true, false])
    func valuesKeepTheirTypesAndHostileTextRoundTrips(inTransaction: Bool) async throws {
        let (rows, csv) = try await Self.export(inTransaction: inTransaction)
        #expect(rows.count == 2)
        let row = try #require(rows.first)
        #expect(row["note"] as? String == Self.hostileText)
        #expect((row["count"] as? NSNumber)?.int64Value == 42)
        #expect((row["amount"] as? NSNumber)?.doubleValue == -1.5)
        #expect(row["nan"] as? String == "NaN")
        #expect(row["minus_infinity"] as? String == "-Infinity")
        #expect(row["yes"] as? Bool == true)
        #expect(row["no"] as? Bool == false)
        #expect(row["nothing"] is NSNull)
        #expect(((row["doc"] as? [String: Any])?["a"] as? [Any])?.last as? String == "x\"y")
        #expect(row["scan"] as? String == Data([0xde, 0xad, 0xbe, 0xef]).base64EncodedString())
        #expect(row["at"] as? String == "2026-11-25T11:40:06.5Z")
        #expect(row["local_at"] as? String == "2026-11-25T11:40:06")
        #expect(row["day"] as? String == "2026-11-25")

        let lines = csv.components(separatedBy: "\r\n")
        #expect(lines.first == "note,count,amount,nan,minus_infinity,yes,no,nothing,doc,scan,at,local_at,day")
        let quoted = "\"" + Self.hostileText.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        #expect(
            csv.contains(
                quoted
                    + ",42,-1.50,NaN,-Infinity,true,false,,\"{\"\"a\"\": [1, \"\"x\\\"\"y\"\"]}\",3q2+7w==,2026-11-25T11:40:06.5Z,2026-11-25T11:40:06,2026-11-25\r\n"
            ))
    }

    /// A `json` column keeps the text an application wrote, and many (Python's json.dumps)
    /// escape every Thai letter: the export writes the letters, so the person can read them.
    /// Escapes that must stay (quotes, backslashes, control characters, U+2028) stay; the
    /// document still parses to the same value.
    @Test func thaiEscapedInAJSONColumnIsWrittenReadably() async throws {
        let stored =
            #"{"name": "\u0e2a\u0e21\u0e0a\u0e32\u0e22", "flag": "\ud83c\uddf9\ud83c\udded", "kept": "a\\u0041 \" \u0007 \u2028 \u0041"}"#
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let files = try await TestDatabase.with { database in
            let connection = try await database.connect()
            return try await connection.transactionIf(false) { connection in
                let writer = try TableFileWriter(pack: StagingPack(directory: directory, store: "s"), table: "t", formats: [.json])
                try connection.stream("SELECT $1::json AS doc", [stored]) { row in
                    try writer.write(
                        columns: row.columns, kinds: row.columnTypes.map(TableFileWriter.FieldKind.init(postgresType:)), row: row)
                }
                return try writer.finish()
            }
        }
        let data = try StagedFiles.contents(of: "s/t.json", in: directory, files: files)
        let text = String(decoding: data, as: UTF8.self)
        #expect(text.contains(#""name": "สมชาย""#), "\(text)")
        #expect(text.contains(#""flag": "🇹🇭""#), "\(text)")
        #expect(text.contains(#""kept": "a\\u0041 \" \u0007 \u2028 \u0041""#), "\(text)")
        let parsed = try #require(try JSONSerialization.jsonObject(with: data) as? [[String: Any]])
        let original = try #require(try JSONSerialization.jsonObject(with: Data(stored.utf8)) as? [String: String])
        #expect(parsed.first?["doc"] as? [String: String] == original)
    }

    /// The export's COPY path (text format, escapes undone per field) writes exactly the
    /// bytes the row path writes, hostile text, bytea, json and NULL included.
    @Test func copyOutWritesTheSameFilesAsRows() async throws {
        let (json, csv) = try await Self.exportFiles(inTransaction: true)
        try await TestDatabase.with { database in
            let connection = try await database.connect()
            try await connection.execute("SET TIME ZONE 'UTC'")
            let directory = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: directory) }
            try await connection.execute(
                "CREATE TABLE probe AS \(Self.query.replacingOccurrences(of: "$1::text", with: "current_setting('dsrd.t_p1')::text"))"
                    .replacingOccurrences(of: "current_setting('dsrd.t_p1')", with: "'placeholder'"))
            try await connection.execute("UPDATE probe SET note = $1", [Self.hostileText])
            let columns = try await connection.query("SELECT * FROM probe LIMIT 0").columns
            let kinds = try await connection.query("SELECT * FROM probe").columnTypes.map(TableFileWriter.FieldKind.init(postgresType:))
            let files = try await connection.transaction { connection in
                let writer = try TableFileWriter(pack: StagingPack(directory: directory, store: "s"), table: "t", formats: [.json, .csv])
                let scratch = CopyScratch()
                for _ in 0..<2 {
                    try connection.copyOut("COPY (SELECT * FROM probe) TO STDOUT") { line in
                        try writer.write(
                            columns: columns, kinds: kinds,
                            row: CopyRowFields(row: CopyTextRow(line, expecting: columns.count), scratch: scratch))
                    }
                }
                return try writer.finish()
            }
            #expect(try StagedFiles.contents(of: "s/t.json", in: directory, files: files) == json)
            #expect(String(decoding: try StagedFiles.contents(of: "s/t.csv", in: directory, files: files), as: UTF8.self) == csv)
        }
    }

    /// Arrays come out as JSON arrays of their elements' own kinds, through both paths
    /// (rows, and COPY with its own escaping on top); the CSV keeps PostgreSQL's form.
    @Test func arraysAreJSONArraysOfTheirElements() async throws {
        let query = """
            SELECT ARRAY['vip', 'line "friend"', NULL, 'ไทย', 'a,b', '{x}', 'back\\slash', 'null']::text[] AS tags,
                   ARRAY[[1, 2], [3, 4]]::int[] AS grid, '{}'::int[] AS empty, ARRAY['{"a": 1}']::jsonb[] AS docs,
                   '[0:1]={7,8}'::int[] AS shifted, ARRAY[true, NULL]::boolean[] AS flags,
                   ARRAY['2026-11-25 11:40:06+00']::timestamptz[] AS times, ARRAY[1.5, 'NaN']::numeric[] AS amounts
            """
        try await TestDatabase.with { database in
            let connection = try await database.connect()
            try await connection.execute("SET TIME ZONE 'UTC'")
            try await connection.execute("CREATE TABLE probe AS \(query)")
            let columns = try await connection.query("SELECT * FROM probe LIMIT 0").columns
            let kinds = try await connection.query("SELECT * FROM probe").columnTypes.map(TableFileWriter.FieldKind.init(postgresType:))
            for copying in [false, true] {
                let directory = try temporaryDirectory()
                defer { try? FileManager.default.removeItem(at: directory) }
                let files = try await connection.transaction { connection in
                    let writer = try TableFileWriter(
                        pack: StagingPack(directory: directory, store: "s"), table: "t", formats: [.json, .csv])
                    if copying {
                        let scratch = CopyScratch()
                        try connection.copyOut("COPY (SELECT * FROM probe) TO STDOUT") { line in
                            try writer.write(
                                columns: columns, kinds: kinds,
                                row: CopyRowFields(row: CopyTextRow(line, expecting: columns.count), scratch: scratch))
                        }
                    } else {
                        try connection.stream("SELECT * FROM probe", [], fetchSize: 1) { row in
                            try writer.write(columns: columns, kinds: kinds, row: row)
                        }
                    }
                    return try writer.finish()
                }
                let json = try StagedFiles.contents(of: "s/t.json", in: directory, files: files)
                let row = try #require((try JSONSerialization.jsonObject(with: json) as? [[String: Any]])?.first)
                let tags = try #require(row["tags"] as? [Any], "\(String(decoding: json, as: UTF8.self))")
                #expect(tags.count == 8 && tags[2] is NSNull, "\(tags)")
                #expect(
                    tags.compactMap { $0 as? String } == ["vip", "line \"friend\"", "ไทย", "a,b", "{x}", "back\\slash", "null"], "\(tags)")
                #expect(row["grid"] as? [[Int]] == [[1, 2], [3, 4]], "\(row)")
                #expect((row["empty"] as? [Any])?.isEmpty == true, "\(row)")
                #expect(((row["docs"] as? [Any])?.first as? [String: Int]) == ["a": 1], "\(row)")
                #expect(row["shifted"] as? [Int] == [7, 8], "\(row)")
                #expect((row["flags"] as? [Any])?.first as? Bool == true && (row["flags"] as? [Any])?.last is NSNull, "\(row)")
                #expect(row["times"] as? [String] == ["2026-11-25T11:40:06Z"], "\(row)")
                #expect(
                    (row["amounts"] as? [Any])?.first as? Double == 1.5 && (row["amounts"] as? [Any])?.last as? String == "NaN", "\(row)")
                let csv = String(decoding: try StagedFiles.contents(of: "s/t.csv", in: directory, files: files), as: UTF8.self)
                #expect(csv.contains(#""{{1,2},{3,4}}""#), "\(csv)")
            }
        }
    }

    @Test func emptyTableIsAnEmptyArrayAndAnEmptyCSV() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let pack = StagingPack(directory: directory, store: "s")
        let writer = try TableFileWriter(pack: pack, table: "t", formats: [.json, .csv])
        let files = try writer.finish()
        #expect(String(decoding: try StagedFiles.contents(of: "s/t.json", in: directory, files: files), as: UTF8.self) == "[]\n")
        #expect(files.map(\.size) == [3, 0])
        // With its columns known before any row (a SQL store's catalog), the CSV has its header.
        let known = try TableFileWriter(pack: pack, table: "u", formats: [.json, .csv])
        known.start(columns: ["id", "note"])
        let headed = try known.finish()
        #expect(String(decoding: try StagedFiles.contents(of: "s/u.csv", in: directory, files: headed), as: UTF8.self) == "id,note\r\n")
        #expect(String(decoding: try StagedFiles.contents(of: "s/u.json", in: directory, files: headed), as: UTF8.self) == "[]\n")
    }
}

extension PostgresConnection {
    /// Runs `body` inside a transaction when `inTransaction`, otherwise directly.
    func transactionIf<T: Sendable>(_ inTransaction: Bool, _ body: @Sendable (isolated PostgresConnection) throws -> T) throws -> T {
        inTransaction ? try transaction(.readWrite, body) : try body(self)
    }
}
