import Foundation
import Postgres

/// The draft of a breach's notification to the PDPC (PDPA s.37(4)), in Thai or English,
/// filled in from `dsr.breaches` and the people found affected: what the DPO reviews, signs
/// and sends (template `pdpc_breach_draft`).
public struct BreachDraft: Sendable {
    let templates: NoticeTemplates
    let company: DSRConfiguration.Company
    let timeZone: TimeZone

    public init(configuration: DSRConfiguration) throws {
        templates = try NoticeTemplates(directory: configuration.resolvedPath(configuration.notices.templatesDirectory))
        company = configuration.company
        timeZone = TimeZone(identifier: configuration.notices.timeZone) ?? TimeZone(identifier: "UTC")!
    }

    /// The draft's title and text.
    public func render(breach: Int64, language: Language, on connection: PostgresConnection) async throws -> RenderedNotice {
        let rows = try await connection.query(
            """
            SELECT b.summary, array_to_string(b.categories, ', ') AS categories, array_to_string(b.systems, ', ') AS systems,
                   b.became_aware_at, b.risk, b.consequences, b.measures, now() > b.became_aware_at + interval '72 hours' AS late,
                   (SELECT count(*) FROM dsr.breach_subjects AS s WHERE s.breach_id = b.id) AS people,
                   (SELECT count(*) FROM dsr.outbox AS o WHERE o.idempotency_key LIKE 'breach:' || b.id || ':%' AND o.template = 'breach_notice') AS told
              FROM dsr.breaches AS b WHERE b.id = $1
            """, [breach])
        guard let row = rows.first else { throw ConfigurationError("there is no breach \(breach)") }
        let locale = language.rawValue
        let risk = try row.decode("risk", as: String.self)
        let people = try row.decode("people", as: Int.self)
        let told = try row.decode("told", as: Int.self)
        func orNone(_ text: String) -> String { text.isEmpty ? language.pick(thai: "(โปรดระบุ)", english: "(please state)") : text }
        var values: [String: Any] = [
            "breach_id": breach, "summary": try row.decode("summary", as: String.self),
            "categories": orNone(try row.decode("categories", as: String.self)),
            "systems": orNone(try row.decode("systems", as: String.self)),
            "became_aware_date": DateTexts.long(try row.decode("became_aware_at", as: Date.self), locale: locale, timeZone: timeZone)
                + " " + Self.time(try row.decode("became_aware_at", as: Date.self), timeZone: timeZone),
            "consequences": orNone(try row.decode("consequences", as: String.self)),
            "measures": orNone(try row.decode("measures", as: String.self)),
            "people": people == 0 ? language.pick(thai: "(ยังไม่ได้ระบุ)", english: "(not yet established)") : "\(people)",
            "late": try row.decode("late", as: Bool.self),
        ]
        values["risk_label"] =
            switch risk {
            case "high": language.pick(thai: "สูง", english: "high")
            case "risk": language.pick(thai: "มีความเสี่ยง", english: "a risk")
            default: language.pick(thai: "ไม่น่าจะมีความเสี่ยง", english: "unlikely")
            }
        values["subjects_told"] =
            risk != "high"
            ? language.pick(thai: "ไม่ต้องแจ้ง (ความเสี่ยงไม่สูง)", english: "not required (the risk is not high)")
            : told == 0
                ? language.pick(thai: "จะแจ้งโดยไม่ชักช้า", english: "to be notified without delay")
                : language.pick(
                    thai: "แจ้งแล้วหรือกำลังแจ้ง \(told) ราย ทางอีเมลหรือ SMS", english: "\(told) notified or being notified by email or SMS")
        values.merge(NoticeVocabulary.companyValues(company, locale: locale)) { $1 }
        return try templates.render("pdpc_breach_draft", channel: .email, language: language, values: values)
    }

    static func time(_ date: Date, timeZone: TimeZone) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = timeZone
        formatter.dateFormat = "HH:mm"
        return formatter.string(from: date) + " (" + (timeZone.abbreviation(for: date) ?? timeZone.identifier) + ")"
    }
}
