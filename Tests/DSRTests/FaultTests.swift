import DSRTestSupport
import Foundation
import Postgres
import TestSupport
import Testing

@Suite("Faults and hostile input")
struct FaultTests {
    static let hostile: [(String, String)] = [
        ("access'; DROP TABLE dsr.requests; --", #"{"email": "a@example.com"}"#),
        ("access", #"{"email": "a@example.com\r\nBcc: victim@example.com"}"#),
        ("access", #"{"email": "\u0007\u001b[31m@example.com"}"#),
        ("access", #"{"email": "admin\u202Egpj.exe@example.com"}"#),
        ("access", #"{"email": "pay\u200Bpal@example.com"}"#),
        ("access", #"{"customer_id": "C1' OR '1'='1"}"#),
        ("access", #"{"customer_id": "../../etc/passwd"}"#),
        ("access", #"{"phone": "+66 81 234 5678 ext. 12; rm -rf /"}"#),
        ("access", #"{"national_id": "<script>alert(1)</script>"}"#),
        ("access", #"{"email": {"nested": {"deeper": ["a@example.com"]}}}"#),
        ("access", #"{"email": ["a@example.com", "b@example.com"]}"#),
        ("access", #"{"email": null}"#),
        ("access", #""a@example.com""#),
        ("rectification", #"{"email": "a@example.com"}"#),
    ]

    @Test func hostileSubmissionsAreRefusedClearlyAndWriteNothing() async throws {
        try await TestDatabase.migrated { database, connection in
            for (kind, subject) in Self.hostile {
                do {
                    try await connection.query("SELECT dsr.submit($1, $2::jsonb)", [kind, subject])
                    Issue.record("accepted \(kind) \(subject)")
                } catch let error as PostgresError {
                    #expect(error.sqlState == "22023", "\(subject): \(error)")
                }
            }
            // 10 MB identifiers, invalid UTF-8 and NUL: refused by dsr.submit or by the server's own checks.
            let huge = String(repeating: "a", count: 10_000_000) + "@example.com"
            let attempts: [(String, [any PostgresEncodable], String)] = [
                ("SELECT dsr.submit('access', jsonb_build_object('email', $1::text))", [huge], "22023"),
                (
                    "SELECT dsr.submit('access', jsonb_build_object('email', convert_from($1::bytea, 'UTF8')))",
                    [Data([0x61, 0xff, 0x40, 0x62])], "22021"
                ),
                ("SELECT dsr.submit('access', $1::jsonb)", [#"{"email": "a\u0000@example.com"}"#], "22P05"),
                (
                    "SELECT dsr.submit('access', $1::jsonb, $2::jsonb)", [#"{"email": "a@example.com"}"#, #"{"locale": "th'; --"}"#],
                    "22023"
                ),
            ]
            for (sql, parameters, state) in attempts {
                do {
                    try await connection.query(sql, parameters)
                    Issue.record("accepted \(sql)")
                } catch let error as PostgresError {
                    #expect(error.sqlState == state, "\(sql): \(error)")
                    #expect(error.message.count < 300)
                }
            }
            for table in ["dsr.requests", "dsr.jobs", "dsr.outbox", "dsr.request_events"] {
                #expect(try await connection.count("SELECT count(*) FROM \(table)") == 0, "\(table)")
            }

            // The command line: clear refusal (65), no crash, nothing written.
            let long = String(repeating: "x", count: 100_000)
            for arguments in [
                ["--email", "a@b.c\r\nBcc: x@y.z"], ["--customer-id", long], ["--phone", "\u{1b}[2J"],
                ["--email", "admin\u{202E}moc.elpmaxe@example.com"],
            ] {
                let result = try await DaemonProcess.run(["submit", "access", "--database-url", database.conninfo] + arguments)
                #expect(
                    result.status == 65 || result.status == 70, "\(arguments.first ?? ""): \(result.status) \(result.output.prefix(200))")
                #expect(result.output.hasPrefix("dsrd: "), "\(result.output.prefix(200))")
            }
            #expect(try await connection.count("SELECT count(*) FROM dsr.requests") == 0)
        }
    }
}
