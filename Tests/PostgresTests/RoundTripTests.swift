import Foundation
import Postgres
import TestSupport
import Testing

@Suite("Type round-trips against a real server")
struct RoundTripTests {
    @Test func everySupportedTypeRoundTrips() async throws {
        try await TestDatabase.with { database in
            let connection = try await database.connect()
            try await connection.execute(
                """
                CREATE TABLE t (
                    label text, n int4, big int8, flag bool, id uuid, at timestamptz,
                    doc jsonb, blob bytea, tags text[], numbers int8[], ratio float8)
                """)
            let id = UUID()
            let at = Date(timeIntervalSince1970: 1_795_606_806.123456)
            let blob = Data((0...255).map { UInt8($0) })
            let tags = ["สมชาย ใจดี", "with \"quotes\"", "comma,inside", "back\\slash", "NULL", ""]
            try await connection.execute(
                "INSERT INTO t VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9::text[], $10::int8[], $11)",
                [
                    "บริษัท สมาร์ทเทค เอ็นเตอร์ไพรส์", Int32(-42), Int64.max, true, id, at,
                    PostgresJSON(text: #"{"ชื่อ": "สมหญิง", "n": 1}"#), blob, tags, [Int64(1), -2, 3], 0.25,
                ])
            let rows = try await connection.query("SELECT * FROM t")
            #expect(rows.count == 1)
            let row = rows[0]
            #expect(try row.decode("label", as: String.self) == "บริษัท สมาร์ทเทค เอ็นเตอร์ไพรส์")
            #expect(try row.decode("n", as: Int32.self) == -42)
            #expect(try row.decode("big", as: Int64.self) == Int64.max)
            #expect(try row.decode("flag", as: Bool.self) == true)
            #expect(try row.decode("id", as: UUID.self) == id)
            let decodedAt = try row.decode("at", as: Date.self)
            #expect(abs(decodedAt.timeIntervalSince1970 - at.timeIntervalSince1970) < 0.000_001)
            struct Doc: Decodable, Equatable {
                let ชื่อ: String
                let n: Int
            }
            #expect(try row.decodeJSON("doc", as: Doc.self) == Doc(ชื่อ: "สมหญิง", n: 1))
            #expect(try row.decode("blob", as: Data.self) == blob)
            #expect(try row.decode("tags", as: [String].self) == tags)
            #expect(try row.decode("numbers", as: [Int64].self) == [1, -2, 3])
            #expect(try row.decode("ratio", as: Double.self) == 0.25)
        }
    }

    @Test func nullsDecodeAsNilAndRefuseNonOptionalDecoding() async throws {
        try await TestDatabase.with { database in
            let connection = try await database.connect()
            try await connection.execute("CREATE TABLE t (a text, b int8, c timestamptz, d bytea, e uuid)")
            let none: String? = nil
            try await connection.execute(
                "INSERT INTO t VALUES ($1, $2, $3, $4, $5)", [none, Int64?.none, Date?.none, Data?.none, UUID?.none])
            let row = try await connection.query("SELECT * FROM t")[0]
            #expect(try row.decode("a", as: String?.self) == nil)
            #expect(try row.decode("b", as: Int64?.self) == nil)
            #expect(try row.decode("c", as: Date?.self) == nil)
            #expect(try row.decode("d", as: Data?.self) == nil)
            #expect(try row.decode("e", as: UUID?.self) == nil)
            #expect(try row.isNull("a"))
            #expect(throws: PostgresError.self) { try row.decode("a", as: String.self) }
        }
    }

    @Test func hostileTextIsStoredVerbatim() async throws {
        try await TestDatabase.with { database in
            let connection = try await database.connect()
            try await connection.execute("CREATE TABLE victims (v text)")
            let hostile = "O'Brien\"; '); DROP TABLE victims; -- \\ $1 %s \u{0007} ข้อมูล"
            try await connection.execute("INSERT INTO victims VALUES ($1)", [hostile])
            let rows = try await connection.query("SELECT v FROM victims WHERE v = $1", [hostile])
            #expect(rows.count == 1)
            #expect(try rows[0].decode("v", as: String.self) == hostile)
            let tables = try await connection.query("SELECT count(*) AS n FROM pg_tables WHERE tablename = 'victims'")
            #expect(try tables[0].decode("n", as: Int.self) == 1)
        }
    }

    @Test func nulCharactersAreRefusedNotTruncated() async throws {
        try await TestDatabase.with { database in
            let connection = try await database.connect()
            await #expect(throws: PostgresError.self) {
                try await connection.query("SELECT $1::text", ["before\u{0}after"])
            }
        }
    }

    @Test func streamingDeliversEveryRowInOrder() async throws {
        try await TestDatabase.with { database in
            let connection = try await database.connect()
            let total = try await connection.transaction { connection in
                var sum = 0
                var count = 0
                try connection.stream("SELECT g FROM generate_series(1, $1::int) AS g", [20_000]) { row in
                    count += 1
                    let value = try row.decode("g", as: Int.self)
                    #expect(value == count)
                    sum += value
                }
                return sum
            }
            #expect(total == 20_000 * 20_001 / 2)
            // The connection is usable after a stream stopped early by an error.
            await #expect(throws: PostgresError.self) {
                try await connection.stream("SELECT 1/(g - 5000) FROM generate_series(1, 10000) g") { _ in }
            }
            #expect(try await connection.query("SELECT 1 AS one")[0].decode("one", as: Int.self) == 1)
        }
    }

    /// Several queries streamed in one exchange: each query's rows arrive in order, with its
    /// index, one query after another. A failure, the server's or the consumer's, drops the
    /// rest and leaves the connection usable.
    @Test func queriesStreamedTogetherArriveInOrderInOneExchange() async throws {
        try await TestDatabase.with { database in
            let connection = try await database.connect()
            let series = "SELECT g FROM generate_series($1::int, $2::int) AS g"
            let queries: [(sql: String, parameters: [any PostgresEncodable])] = [(series, [1, 3]), (series, [10, 9]), (series, [7, 8])]
            try await connection.streamPreparedEach(queries) { _, _ in }  // prepared before counting
            let start = await connection.roundTrips
            let seen = try await connection.transaction(.repeatableReadOnly) { connection in
                var seen: [String] = []
                try connection.streamPreparedEach(queries) { index, row in seen.append("\(index):\(try row.decode("g", as: Int.self))") }
                return seen
            }
            #expect(seen == ["0:1", "0:2", "0:3", "2:7", "2:8"])
            #expect(await connection.roundTrips - start == 2, "the queries with their BEGIN, then the COMMIT")
            // The transaction's last reads carry its COMMIT: one exchange in all. One that fails
            // leaves it uncommitted, and it is rolled back.
            try await connection.execute("CREATE TABLE t (v int)")
            let insert = "INSERT INTO t VALUES ($1)"
            try await connection.execute(insert, [0])
            let committing = await connection.roundTrips
            let open = try await connection.transaction { connection in
                try connection.streamPreparedEach([(series, [1, 2])], committing: true) { _, _ in }
                return connection.inTransaction
            }
            #expect(!open)
            #expect(await connection.roundTrips - committing == 1)
            await #expect(throws: PostgresError.self) {
                try await connection.transaction { connection in
                    try connection.execute(insert, [1])
                    try connection.streamPreparedEach([(series, [1, 2]), ("SELECT 1 / 0 AS never", [])], committing: true) { _, _ in }
                }
            }
            try await connection.transaction { connection in
                try connection.execute(insert, [2])
                try connection.streamPreparedEach([(series, [1, 2])], committing: true) { _, _ in }
            }
            #expect(await connection.inTransaction == false)
            #expect(
                try await connection.query("SELECT array_agg(v ORDER BY v)::text AS vs FROM t")[0].decode("vs", as: String.self) == "{0,2}")
            struct Enough: Error {}
            var consumed = 0
            await #expect(throws: Enough.self) {
                try await connection.streamPreparedEach([(series, [1, 50_000]), (series, [1, 2])]) { index, _ in
                    consumed += 1
                    if consumed == 3 { throw Enough() }
                }
            }
            #expect(consumed == 3)
            let failed = await #expect(throws: PostgresError.self) {
                try await connection.streamPreparedEach([
                    ("SELECT 1 / (g - 2) AS q FROM generate_series(1, 3) AS g", []), (series, [1, 2]),
                ]) {
                    _, _ in consumed += 1
                }
            }
            #expect(failed?.sqlState == "22012")
            #expect(consumed == 4, "the row before the failure, none after it")
            #expect(try await connection.query("SELECT 1 AS one")[0].decode("one", as: Int.self) == 1)
        }
    }
}
