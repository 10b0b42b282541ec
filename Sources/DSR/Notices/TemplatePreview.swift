import Foundation

/// Renders every template with representative values, for `dsrd templates` and the tests.
public struct TemplatePreview: Sendable {
    let templates: NoticeTemplates
    let timeZone: TimeZone
    /// The configured company; keys not set yet show a sample of typical length.
    let company: DSRConfiguration.Company
    /// A status link of real length when the portal has a public address (notices carry one).
    let statusURL: String?

    public init(configuration: DSRConfiguration) throws {
        let base = configuration.portal.publicURL
        statusURL = base.isEmpty ? nil : (base.hasSuffix("/") ? base : base + "/") + "s/" + String(repeating: "7", count: 64)
        templates = try NoticeTemplates(directory: configuration.resolvedPath(configuration.notices.templatesDirectory))
        timeZone = TimeZone(identifier: configuration.notices.timeZone) ?? TimeZone(identifier: "UTC")!
        var company = configuration.company
        if company.nameTH.isEmpty { company.nameTH = "บริษัท ตัวอย่าง เอ็นเตอร์ไพรส์ จำกัด" }
        if company.nameEN.isEmpty { company.nameEN = "Example Enterprise Co., Ltd." }
        if company.shortName.isEmpty { company.shortName = "Example" }
        if company.contactEmail.isEmpty { company.contactEmail = "privacy@example.co.th" }
        if company.contactPhone.isEmpty { company.contactPhone = "02-444-3044" }
        self.company = company
    }

    /// Sample values shaped like real ones (longest plausible request id, dates, reasons).
    public func sampleValues(kind: String, locale: String) -> [String: Any] {
        let received = Date(timeIntervalSince1970: 1_795_606_806)
        let due = received.addingTimeInterval(30 * 86_400)
        var values: [String: Any] = [
            "request_id": "6f48d8e7-d553-4ce3-acdf-3cc442ca4846", "short_id": "6f48d8e7",
            "received_date": NoticeVocabulary.date(received, locale: locale, timeZone: timeZone),
            "due_date": NoticeVocabulary.date(due, locale: locale, timeZone: timeZone), "period_days": 30,
            "days_left": 5, "day": 25, "note": "", "code": "482913", "minutes": 15,
            "reason": locale == "en" ? "your identity could not be verified." : "ไม่สามารถยืนยันตัวตนของท่านได้",
            "ground": "legal_claims", "section": "s.33 para 2(5)",
            "ground_th": "บริษัทฯ จำเป็นต้องใช้ข้อมูลนี้เพื่อการก่อตั้งสิทธิเรียกร้องตามกฎหมาย",
            "ground_en": "We need this data to establish, exercise or defend legal claims.",
            "detail": locale == "en" ? "The order is part of a court case." : "คำสั่งซื้อนี้อยู่ระหว่างคดีความ",
            "job_id": 4711, "job_kind": "request", "attempts": 10, "last_error": "connection refused",
            "template": "completed", "channel": "sms", "stores": "customer, order, marketing",
            "rows_exported": 1234, "rows_erased": 0, "rows_held": 0, "store": "marketing",
            "conflicting_records": true, "conflicts": "customers.first_name, customers.last_name", "still_joined": true,
            "shared_phone_left_out": true,
            "task_id": 42, "operation": "erase", "owner": "archive@example.com", "reminders": 2, "reminder": 1, "remind_days": 3,
            "outcome": "done", "breach_id": 3, "risk": "high", "hours": 48, "hours_left": 24, "reported_by": "dpo", "people": 1250,
            "summary": locale == "en" ? "A laptop holding a customer list was stolen." : "แล็ปท็อปที่มีรายชื่อลูกค้าถูกขโมย",
            "categories": "contact", "systems": "customer", "consequences": "phishing", "measures": "disk encrypted",
            "risk_label": "high", "subjects_told": "yes", "required": 2, "why": "approvals.erasure", "table": "customers",
            "count": 3,
            "became_aware_date": NoticeVocabulary.date(received, locale: locale, timeZone: timeZone),
            "deadline_date": NoticeVocabulary.date(received.addingTimeInterval(72 * 3600), locale: locale, timeZone: timeZone),
        ]
        let task = ManualTaskDetails(
            operation: .erase, identity: Self.sampleIdentity, change: nil,
            instructions: [locale: locale == "en" ? "Boxes 1-40 in room 3; shred." : "กล่อง 1-40 ห้อง 3 ใช้เครื่องทำลายเอกสาร"],
            language: Language(code: locale))
        values.merge(task.variables) { $1 }
        values.merge(MonthlyReport.sampleNoticeValues(locale: locale)) { $1 }
        if let statusURL { values["status_url"] = statusURL }
        values.merge(NoticeVocabulary.kindValues(kind, lift: false, locale: locale)) { $1 }
        values.merge(NoticeVocabulary.companyValues(company, locale: locale)) { $1 }
        return values
    }

    static var sampleIdentity: IdentitySet {
        var identity = IdentitySet()
        identity.add("somchai@example.co.th", as: .email)
        identity.add("+66812345678", as: .phone)
        return identity
    }

    public struct SMSMeasure: Sendable {
        public let locale: String
        public let template: String
        public let characters: Int
        public let encoding: String
        public let segments: Int
    }

    /// Each SMS template rendered for the kind with the longest label (the worst case).
    public func smsMeasures() throws -> [SMSMeasure] {
        var measures: [SMSMeasure] = []
        for locale in NoticeTemplates.locales {
            let longestKind = RequestKind.allCases.map(\.rawValue)
                .max { NoticeVocabulary.kindLabel($0, locale: locale).count < NoticeVocabulary.kindLabel($1, locale: locale).count }!
            for name in NoticeTemplates.subjectNotices {
                let text = try templates.render(
                    name, channel: .sms, language: Language(code: locale), values: sampleValues(kind: longestKind, locale: locale)
                ).text
                let count = SMSSegments.count(text)
                measures.append(
                    SMSMeasure(
                        locale: locale, template: name, characters: count.units,
                        encoding: count.encoding.rawValue, segments: count.segments))
            }
        }
        return measures
    }

    public func report(includeRenderings: Bool) throws -> String {
        var out: [String] = []
        if includeRenderings {
            for locale in NoticeTemplates.locales {
                for name in NoticeTemplates.subjectNotices + NoticeTemplates.dpoNotices + NoticeTemplates.ownerNotices
                    + NoticeTemplates.documents
                {
                    let notice = try templates.render(
                        name, channel: .email, language: Language(code: locale), values: sampleValues(kind: "access", locale: locale))
                    out.append("== \(locale)/\(name) (email)\nSubject: \(notice.subject ?? "")\n\n\(notice.text)")
                }
            }
        }
        var table = TextTable(headers: ["locale", "sms template", "characters", "encoding", "segments"])
        for measure in try smsMeasures() {
            table.rows.append([measure.locale, measure.template, String(measure.characters), measure.encoding, String(measure.segments)])
        }
        out.append("SMS (worst case: the longest request-kind label)\n" + table.render())
        return out.joined(separator: "\n")
    }
}
