import DSR
import DSRTestSupport
import Foundation
import Postgres
import TestSupport
import Testing

@Suite("Submission through dsr.submit")
struct SubmissionTests {
    @Test func submitCreatesRequestEventAndJobInOneTransaction() async throws {
        try await TestDatabase.migrated { _, connection in
            let id = try await connection.query(
                "SELECT dsr.submit('access', $1::jsonb, '{\"locale\": \"en\"}') AS id",
                [#"{"email": "  Somchai.J@Example.CO.TH ", "phone": "081-234-5678"}"#]
            )[0].decode("id", as: UUID.self)
            let row = try await connection.query(
                "SELECT kind, status, subject_email, subject_phone, locale, channels, due_at - received_at = interval '30 days' AS thirty FROM dsr.requests WHERE id = $1",
                [id])[0]
            #expect(try row.decode("kind", as: String.self) == "access")
            #expect(try row.decode("status", as: String.self) == "received")
            #expect(try row.decode("subject_email", as: String.self) == "somchai.j@example.co.th")
            #expect(try row.decode("subject_phone", as: String.self) == "+66812345678")
            #expect(try row.decode("locale", as: String.self) == "en")
            #expect(try row.decode("channels", as: [String].self) == ["email"])
            #expect(try row.decode("thirty", as: Bool.self))
            #expect(
                try await connection.count(
                    "SELECT count(*) FROM dsr.jobs WHERE request_id = $1 AND kind = 'request' AND state = 'available'", [id]) == 1)
            // The acknowledgement is queued in the same transaction.
            #expect(
                try await connection.count(
                    "SELECT count(*) FROM dsr.outbox WHERE request_id = $1 AND template = 'received' AND channel = 'email'", [id]) == 1)
            // Transactional enqueue: rolled back with the caller's transaction.
            _ = try? await connection.transaction { connection in
                try connection.query("SELECT dsr.submit('erasure', '{\"customer_id\": \"C-1\"}')")
                throw CancellationError()
            }
            #expect(try await connection.count("SELECT count(*) FROM dsr.requests") == 1)
        }
    }

    @Test func resubmissionWithSameIdempotencyKeyReturnsTheSameRequest() async throws {
        try await TestDatabase.migrated { _, connection in
            var first = RequestSubmission(kind: "erasure")
            first.subject = ["email": "a@example.com"]
            first.idempotencyKey = "ticket-4711"
            let id1 = try await first.submit(on: connection)
            let id2 = try await first.submit(on: connection)
            #expect(id1 == id2)
            #expect(try await connection.count("SELECT count(*) FROM dsr.jobs WHERE kind = 'request'") == 1)
            #expect(try await connection.count("SELECT count(*) FROM dsr.outbox") == 1)
            var other = first
            other.kind = "access"
            await #expect(throws: PostgresError.self) { try await other.submit(on: connection) }
        }
    }

    static let invalid: [(String, String, String, String)] = [
        ("bogus", #"{"email": "a@b.co"}"#, "{}", "unknown request kind"),
        ("access", #"{}"#, "{}", "no usable identifier"),
        ("access", #"{"name": "สมชาย"}"#, "{}", "no usable identifier"),
        ("access", #"{"email": "not-an-email"}"#, "{}", "not a valid email"),
        ("access", #"{"email": "a@b.c\r\nBcc: x@y.z"}"#, "{}", "not a valid email"),
        ("access", #"{"phone": "12345"}"#, "{}", "not a valid phone"),
        ("access", #"{"phone": "081-234-5678; DROP TABLE dsr.requests"}"#, "{}", "not a valid phone"),
        ("access", #"{"national_id": "1101700207031"}"#, "{}", "not a valid 13-digit"),
        ("access", #"{"email": "a@b.co", "password": "x"}"#, "{}", "unknown subject field"),
        ("access", #"{"email": 42}"#, "{}", "must be a string"),
        ("access", #"[1, 2]"#, "{}", "subject must be a JSON object"),
        ("access", #"{"email": "a@b.co"}"#, #"{"locale": "fr"}"#, "locale must be th or en"),
        ("access", #"{"email": "a@b.co"}"#, #"{"channels": ["sms"]}"#, "channel sms needs a subject phone"),
        ("access", #"{"email": "a@b.co"}"#, #"{"received_at": "2999-01-01T00:00:00Z"}"#, "in the future"),
        ("access", #"{"email": "a@b.co"}"#, #"{"received_at": "last tuesday"}"#, "ISO 8601"),
        ("access", #"{"email": "a@b.co"}"#, #"{"colour": "blue"}"#, "unknown option"),
        ("rectification", #"{"email": "a@b.co"}"#, "{}", "needs options.changes"),
        ("rectification", #"{"email": "a@b.co"}"#, #"{"changes": {}}"#, "needs options.changes"),
        ("access", #"{"email": "a@b.co"}"#, #"{"changes": {"x": "y"}}"#, "only for rectification"),
    ]

    @Test(arguments: invalid)
    func invalidSubmissionsAreRefusedAndWriteNothing(kind: String, subject: String, options: String, message: String) async throws {
        try await TestDatabase.migrated { _, connection in
            do {
                try await connection.query("SELECT dsr.submit($1, $2::jsonb, $3::jsonb)", [kind, subject, options])
                Issue.record("accepted \(kind) \(subject) \(options)")
            } catch let error as PostgresError {
                #expect(error.sqlState == "22023")
                #expect(error.message.contains(message), "\(error.message)")
                // Messages never echo the submitted identifiers.
                #expect(!error.message.contains("b.co") && !error.message.contains("DROP"))
            }
            #expect(try await connection.count("SELECT count(*) FROM dsr.requests") == 0)
            #expect(try await connection.count("SELECT count(*) FROM dsr.jobs") == 0)
            #expect(try await connection.count("SELECT count(*) FROM dsr.request_events") == 0)
        }
    }

    @Test func commandLineSubmitPrintsIdOrRefusesWithExitStatus65() async throws {
        try await TestDatabase.migrated { database, connection in
            let ok = try await DaemonProcess.run(
                [
                    "submit", "rectification", "--database-url", database.conninfo, "--phone", "+66 81 234 5678",
                    "--change", "address=99/1 ถนนสุขุมวิท", "--channel", "sms", "--locale", "en",
                ])
            #expect(ok.status == 0, "\(ok.output)")
            let id = try #require(UUID(uuidString: ok.output.trimmingCharacters(in: .whitespacesAndNewlines)))
            let payload = try await connection.query("SELECT payload->'changes'->>'address' AS a FROM dsr.requests WHERE id = $1", [id])
            #expect(try payload[0].decode("a", as: String.self) == "99/1 ถนนสุขุมวิท")

            let refused = try await DaemonProcess.run(
                ["submit", "access", "--database-url", database.conninfo, "--email", "a@b.c\r\nBcc: x@y.z"])
            #expect(refused.status == 65)
            #expect(refused.output.contains("request refused: subject email is not a valid email address"))
            #expect(try await connection.count("SELECT count(*) FROM dsr.requests") == 1)
        }
    }
}
