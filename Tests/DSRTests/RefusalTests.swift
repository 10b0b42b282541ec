import DSRTestSupport
import Foundation
import Postgres
import TestSupport
import Testing

/// Refusals name a ground of `dsr.refusal_grounds` (PDPA section, Thai and English text);
/// guards refuse what the law does not allow, and change nothing when they do; the refusal
/// register (`dsr.refusals`) and the person's notice carry the ground.
@Suite("Refusal grounds and guards")
struct RefusalTests {
    static func refusalError(_ connection: PostgresConnection, _ sql: String, _ parameters: [any PostgresEncodable]) async -> String? {
        await postgresError { try await connection.execute(sql, parameters) }?.message
    }

    @Test func aRefusalNeedsAGroundThatAppliesAndNeverCoversDirectMarketing() async throws {
        try await TestDatabase.migrated { _, connection in
            try await connection.cancelRequestJobs()
            func submit(_ kind: String, _ options: String = "{}") async throws -> UUID {
                try await connection.query(
                    "SELECT dsr.submit($1, '{\"email\": \"a@example.com\"}', $2::jsonb) AS id", [kind, options])[0].decode(
                        "id", as: UUID.self)
            }
            let access = try await submit("access")
            let erasure = try await submit("erasure", #"{"locale": "en"}"#)
            let marketing = try await submit("objection", #"{"purposes": ["marketing"]}"#)
            let everything = try await submit("objection")
            let research = try await submit("objection", #"{"purposes": ["product_improvement"]}"#)
            try await connection.cancelRequestJobs()
            let open = "SELECT count(*) FROM dsr.requests WHERE id = $1 AND status <> 'refused' AND refusal_ground IS NULL"

            let unknown = await Self.refusalError(connection, "SELECT dsr.refuse_request($1, 'because', 'x')", [access])
            #expect(unknown?.contains("unknown refusal ground because") == true, "\(unknown ?? "")")
            let wrongKind = await Self.refusalError(connection, "SELECT dsr.refuse_request($1, 'freedom_of_expression', '')", [access])
            #expect(wrongKind == "ground freedom_of_expression (s.33 para 2(1)) cannot refuse a request for access", "\(wrongKind ?? "")")
            for objection in [marketing, everything] {
                let guarded = await Self.refusalError(
                    connection, "SELECT dsr.refuse_request($1, 'compelling_legitimate_grounds', 'x')", [objection])
                #expect(guarded == "an objection to direct marketing cannot be refused (PDPA s.32 para 2)", "\(guarded ?? "")")
                // Nor through the older two-argument form.
                #expect(await Self.refusalError(connection, "SELECT dsr.refuse_request($1, 'no')", [objection]) != nil)
            }
            for id in [access, marketing, everything] { #expect(try await connection.count(open, [id]) == 1) }
            #expect(try await connection.count("SELECT count(*) FROM dsr.outbox WHERE template = 'refused'") == 0)

            // Allowed: recorded with ground, section and detail; the notice says it in the person's language.
            try await connection.execute(
                "SELECT dsr.refuse_request($1, 'legal_claims', 'The order is part of civil case 123/2569.')", [erasure])
            try await connection.execute("SELECT dsr.refuse_request($1, 'research_statistics', NULL)", [research])
            let register = try await connection.query("SELECT id, ground, section, detail FROM dsr.refusals ORDER BY refused_at")
            #expect(register.count == 2)
            #expect(try register[0].decode("ground", as: String.self) == "legal_claims")
            #expect(try register[0].decode("section", as: String.self) == "s.32 para 1(2), s.33 para 2(5), s.34")
            #expect(try register[0].decode("detail", as: String.self) == "The order is part of civil case 123/2569.")
            #expect(try register[1].decode("detail", as: String.self).hasPrefix("ข้อมูลนี้ใช้เพื่อการศึกษาวิจัย"))  // Thai: the person's language
            let notice = try await connection.query(
                "SELECT variables ->> 'ground_en' AS g, variables ->> 'section' AS s, variables ->> 'reason' AS r FROM dsr.outbox WHERE request_id = $1 AND template = 'refused'",
                [erasure])[0]
            #expect(try notice.decode("g", as: String.self) == "We need this data to establish, exercise or defend legal claims.")
            #expect(try notice.decode("r", as: String.self) == "The order is part of civil case 123/2569.")
        }
    }

    @Test func anExtensionBeyondThePolicyCitesItsLegalBasis() async throws {
        try await TestDatabase.migrated { _, connection in
            let id = try await connection.query("SELECT dsr.submit('access', '{\"email\": \"a@example.com\"}') AS id")[0].decode(
                "id", as: UUID.self)
            let refused = await Self.refusalError(connection, "SELECT dsr.extend_deadline($1, interval '45 days', 'complex request')", [id])
            #expect(
                refused?.hasPrefix("the deadline can be at most 60 days after the request was received (PDPA s.30 para 3") == true,
                "\(refused ?? "")")
            #expect(
                try await connection.count(
                    "SELECT count(*) FROM dsr.requests WHERE id = $1 AND due_at = received_at + interval '30 days'", [id]) == 1)
            try await connection.execute("SELECT dsr.extend_deadline($1, interval '30 days', 'complex request')", [id])
            #expect(
                try await connection.count(
                    "SELECT count(*) FROM dsr.requests WHERE id = $1 AND due_at = received_at + interval '60 days'", [id]) == 1)
        }
    }
}
