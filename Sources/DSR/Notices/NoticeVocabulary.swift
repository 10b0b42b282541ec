import Foundation

/// Words and dates that notices share, per language.
public enum NoticeVocabulary {
    public static func kindLabel(_ kind: String, locale: String, lift: Bool = false) -> String {
        if lift && kind == "restriction" {
            return locale == "en" ? "lifting the restriction of processing" : "ยกเลิกการระงับการใช้ข้อมูลส่วนบุคคล"
        }
        let thai = [
            "access": "เข้าถึงและขอรับสำเนาข้อมูลส่วนบุคคล",
            "portability": "ขอรับหรือโอนย้ายข้อมูลส่วนบุคคล",
            "erasure": "ลบหรือทำลายข้อมูลส่วนบุคคล",
            "rectification": "แก้ไขข้อมูลส่วนบุคคลให้ถูกต้อง",
            "restriction": "ระงับการใช้ข้อมูลส่วนบุคคล",
            "objection": "คัดค้านการเก็บรวบรวม ใช้ หรือเปิดเผยข้อมูลส่วนบุคคล",
            "consent_withdrawal": "ถอนความยินยอม",
        ]
        let english = [
            "access": "access to and a copy of your personal data",
            "portability": "a portable copy of your personal data",
            "erasure": "erasure of your personal data",
            "rectification": "correction of your personal data",
            "restriction": "restriction of processing",
            "objection": "objection to processing",
            "consent_withdrawal": "withdrawal of consent",
        ]
        return (locale == "en" ? english : thai)[kind] ?? kind
    }

    /// The request kind's template values: `kind`, `kind_label` and the sections that pick
    /// wording (`is_export`, `is_erasure`, `is_other`, `is_rectification`).
    public static func kindValues(_ kind: String, lift: Bool, locale: String) -> [String: Any] {
        [
            "kind": kind,
            "kind_label": kindLabel(kind, locale: locale, lift: lift),
            "is_export": kind == "access" || kind == "portability",
            "is_erasure": kind == "erasure",
            "is_other": !(kind == "access" || kind == "portability" || kind == "erasure"),
            "is_rectification": kind == "rectification",
        ]
    }

    /// The company's name and contact in the notice's language.
    static func companyValues(_ company: DSRConfiguration.Company, locale: String) -> [String: Any] {
        [
            "company_name": company.name(locale: locale),
            "sms_name": company.smsName,
            "contact_email": company.contactEmail,
            "contact_phone": company.contactPhone,
            "regulator_name": company.regulator(locale: locale),
            "regulator_url": company.regulatorURL,
        ]
    }

    /// Values derived from a completed request's outcome: `has_held` when an erasure kept
    /// rows by law, `exports_deleted` when it deleted earlier exports, `manual_lines` (and
    /// `manual_refused`) for records checked by hand, and for rectification, restriction,
    /// objection and withdrawal the lines saying what was done in each store
    /// (`change_lines`), or `no_change_found`.
    static func outcomeValues(_ values: [String: Any], locale: String) -> [String: Any] {
        var derived: [String: Any] = [:]
        // Nobody found under the identifiers given: said instead of "erased", "ready" or "done".
        let nothingHeld = values["nothing_held"] as? Bool ?? false
        derived["nothing_held"] = nothingHeld
        if let held = values["rows_held"] as? Int {
            // Why rows were kept, told apart: only a rule may be called the law's. A result
            // from before the split counts every kept row as kept by a rule, as it then said.
            let referenced = values["rows_held_referenced"] as? Int ?? 0
            let mapping = values["rows_kept_by_mapping"] as? Int ?? 0
            let byRule = values["rows_held_by_rule"] as? Int ?? max(held - referenced - mapping, 0)
            derived["has_held"] = held > 0
            derived["rows_held_by_rule"] = byRule
            derived["has_held_by_rule"] = byRule > 0
            derived["rows_held_referenced"] = referenced
            derived["has_held_referenced"] = referenced > 0
            derived["rows_kept_by_mapping"] = mapping
            derived["has_kept_by_mapping"] = mapping > 0
        }
        if let rules = values["held_rules"] as? [String], !rules.isEmpty {
            derived["held_rules_text"] = rules.joined(separator: "; ")
            // Tables outside the mapping point at kept rows: their own rows about the person
            // were neither exported nor erased, and someone must look at them by hand.
            derived["unmapped_rows"] = rules.contains { $0.contains(StoreErasure.Held.unmappedMarker) }
        }
        // An erasure that also deleted earlier exports of the person says so.
        derived["exports_deleted"] = (values["exports_deleted"] as? Int ?? 0) > 0
        // Records checked by hand (manual stores): each outcome in the owner's words.
        let manual = values["manual_tasks"] as? [[String: Any]] ?? []
        derived["manual_lines"] = manual.map { task in
            let record = ManualTaskRecord(
                store: task["store"] as? String ?? "", task: 0, outcome: task["outcome"] as? String ?? "",
                evidence: task["evidence"] as? String, openedAt: "", completedAt: "", completedBy: "")
            return "\(record.store): \(record.sentence(locale: Language(code: locale)))"
        }
        derived["has_manual_lines"] = !manual.isEmpty
        derived["manual_refused"] = manual.contains { $0["outcome"] as? String == "refused" }
        guard let updates = values["changes"] as? [[String: Any]] else { return derived }
        var lines: [String] = []
        // Corrections a store did not apply, by why: the DPO follows each up with the person.
        var notApplied: [String: [String]] = [:]
        for update in updates {
            let store = update["store"] as? String ?? ""
            for table in update["tables"] as? [[String: Any]] ?? [] {
                guard let action = table["action"] as? String, let name = table["name"] as? String else { continue }
                let rows = table["rows"] as? Int ?? 0
                // A correction names the column it changed: one line per field and table.
                let place =
                    (action == "rectified" || StoreUpdate.Table.notAppliedActions.contains(action)) ? table["column"] as? String : nil
                if StoreUpdate.Table.notAppliedActions.contains(action) {
                    lines.append(changeLine(store: store, table: name, column: place, action: action, rows: 0, locale: locale))
                    let why = (table["refusal"] as? String).map { ": \($0)" } ?? ""
                    notApplied[action, default: []].append("\(store) / \(name)" + (place.map { " (\($0))" } ?? "") + why)
                } else if rows > 0 {
                    lines.append(changeLine(store: store, table: name, column: place, action: action, rows: rows, locale: locale))
                    if action == "not_restrictable" { notApplied[action, default: []].append("\(store) / \(name)") }
                } else if action == "rectified", let matched = table["matched"] as? Int, matched > 0 {
                    lines.append(changeLine(store: store, table: name, column: place, action: "already", rows: matched, locale: locale))
                }
            }
        }
        if let conflicts = notApplied["conflict"] { derived["conflicts_text"] = conflicts.joined(separator: ", ") }
        if let ambiguous = notApplied["ambiguous"] { derived["ambiguous_text"] = ambiguous.joined(separator: ", ") }
        if let refused = notApplied["refused_value"] { derived["refused_values_text"] = refused.joined(separator: ", ") }
        if let unflagged = notApplied["not_restrictable"] { derived["not_restrictable_text"] = unflagged.joined(separator: ", ") }
        let notHeld = values["fields_not_held"] as? [String] ?? []
        for field in notHeld {
            lines.append(
                locale == "en"
                    ? "\"\(field)\": we hold no such detail about you, so nothing was corrected"
                    : "\"\(field)\": เราไม่มีข้อมูลนี้ของท่าน จึงไม่มีสิ่งใดถูกแก้ไข")
        }
        if !notHeld.isEmpty { derived["fields_not_held_text"] = notHeld.joined(separator: ", ") }
        derived["change_lines"] = nothingHeld ? [] : lines
        derived["has_change_lines"] = !nothingHeld && !lines.isEmpty
        // Rows left out under a shared phone are said instead: "nothing needed to change" is not known.
        derived["no_change_found"] =
            !nothingHeld && lines.isEmpty && !manual.contains { $0["outcome"] as? String == "done" }
            && values["shared_phone_left_out"] as? Bool != true
        return derived
    }

    /// One line of what a change did, e.g. "marketing / subscriptions: stopped (1 record)".
    static func changeLine(store: String, table: String, column: String? = nil, action: String, rows: Int, locale: String) -> String {
        let english = [
            "rectified": "corrected", "restricted": "processing restricted", "unrestricted": "restriction lifted",
            "withdrawn": "stopped", "deleted": "deleted", "already": "already as you asked, nothing to change",
            "not_restrictable": "not restricted automatically; our Data Protection Officer has been told to restrict it by hand",
        ]
        let thai = [
            "rectified": "แก้ไขแล้ว", "restricted": "ระงับการใช้แล้ว", "unrestricted": "ยกเลิกการระงับแล้ว",
            "withdrawn": "หยุดใช้แล้ว", "deleted": "ลบแล้ว", "already": "ตรงตามที่ท่านขออยู่แล้ว ไม่มีสิ่งใดต้องแก้ไข",
            "not_restrictable": "ยังระงับโดยอัตโนมัติไม่ได้ เราได้แจ้งให้เจ้าหน้าที่คุ้มครองข้อมูลส่วนบุคคลระงับด้วยตนเองแล้ว",
        ]
        let place = "\(store) / \(table)" + (column.map { " (\($0))" } ?? "")
        switch action {
        case "conflict":
            return locale == "en"
                ? "\(place): not corrected: another record there already holds this value; our Data Protection Officer has been told"
                : "\(place): ไม่ได้แก้ไข เพราะมีข้อมูลอื่นในระบบนั้นใช้ค่านี้อยู่แล้ว เราได้แจ้งเจ้าหน้าที่คุ้มครองข้อมูลส่วนบุคคลแล้ว"
        case "ambiguous":
            return locale == "en"
                ? "\(place): not corrected: you have several different entries there and we cannot tell which one you meant; our Data Protection Officer will contact you"
                : "\(place): ไม่ได้แก้ไข เพราะท่านมีข้อมูลนี้หลายรายการที่ไม่ตรงกัน เราจึงไม่ทราบว่าท่านต้องการแก้ไขรายการใด เจ้าหน้าที่คุ้มครองข้อมูลส่วนบุคคลจะติดต่อท่าน"
        case "refused_value":
            return locale == "en"
                ? "\(place): not corrected: that system does not accept this value (too long, or not in the form it needs); our Data Protection Officer has been told"
                : "\(place): ไม่ได้แก้ไข เพราะระบบนั้นไม่รับค่านี้ (ยาวเกินไปหรือไม่อยู่ในรูปแบบที่กำหนด) เราได้แจ้งเจ้าหน้าที่คุ้มครองข้อมูลส่วนบุคคลแล้ว"
        default:
            break
        }
        if locale == "en" {
            return "\(place): \(english[action] ?? action) (\(rows) \(rows == 1 ? "record" : "records"))"
        }
        return "\(place): \(thai[action] ?? action) (\(rows) รายการ)"
    }

    /// `25 ธันวาคม 2569` (Buddhist era) in Thai, `25 December 2026` in English.
    public static func date(_ date: Date, locale: String, timeZone: TimeZone) -> String {
        DateTexts.long(date, locale: locale, timeZone: timeZone)
    }
}
