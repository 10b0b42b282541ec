import Foundation
import Postgres

extension StoreTaskHandler {
    /// A manual store's part of a request: its owner is asked, by email in their language, to
    /// do the work by hand (`dsr.open_manual_task`); the task stays open until they record the
    /// outcome with `dsr.complete_manual_task`, which finishes it like any store's. A re-run
    /// finds the task already open and sends nothing more.
    func openManualTask(_ request: FanOut.RequestRow, mapping: StoreMapping, identity: IdentitySet) throws -> JobResult {
        guard let manual = mapping.manual else { throw JobFailure.permanent("store \(mapping.name) has no owner") }
        let change = request.operation.isChange ? try requestedChange(request) : nil
        let details = ManualTaskDetails(
            operation: request.operation, identity: identity, change: change, instructions: manual.instructions,
            language: manual.ownerLanguage)
        let json = String(decoding: try Self.encoder.encode(details.variables), as: UTF8.self)
        return JobResult(effects: [
            SQLStatement(
                "SELECT dsr.open_manual_task($1, $2, $3, $4, $5, $6::interval, $7::interval, $8::jsonb)",
                [
                    request.id, mapping.name, request.operation.rawValue, manual.owner, manual.ownerLanguage.rawValue,
                    "\(manual.remindEveryDays) days", "\(manual.escalateAfterDays) days", json,
                ])
        ])
    }
}

/// What a manual task's email tells its owner, in their language: whom to look for, what to
/// do, and the store's own instructions. Holds the person's identifiers: the owner cannot find
/// paper records by a hash.
struct ManualTaskDetails {
    let operation: StoreOperation
    let identity: IdentitySet
    let change: StoreChange?
    let instructions: [String: String]
    let language: Language

    /// Template variables (`manual_task`, `manual_task_reminder`): `identifiers`, `action`,
    /// `change`, `instructions`, and `outcome` and `evidence_example` (for the example call).
    var variables: [String: String] {
        var values = [
            "identifiers": identifierLines, "action": action, "instructions": instructions[language.rawValue] ?? "",
            "outcome": operation == .export ? "found" : "done", "evidence_example": evidenceExample,
        ]
        if let text = changeText { values["change"] = text }
        return values
    }

    var identifierLines: String {
        identity.kinds.flatMap { kind in identity[kind].sorted().map { "- \(label(kind)): \($0)" } }.joined(separator: "\n")
    }

    func label(_ kind: IdentityKind) -> String {
        switch kind.rawValue {
        case "email": language.pick(thai: "อีเมล", english: "email")
        case "phone": language.pick(thai: "หมายเลขโทรศัพท์", english: "phone")
        case "customer_id": language.pick(thai: "รหัสลูกค้า", english: "customer id")
        case "national_id": language.pick(thai: "เลขประจำตัวประชาชน", english: "national id")
        default: kind.rawValue
        }
    }

    var action: String {
        switch operation {
        case .export:
            language.pick(
                thai: "ค้นหาเอกสารทั้งหมดของบุคคลนี้ และจัดทำสำเนาเพื่อส่งให้เจ้าของข้อมูล",
                english: "find every record of this person and make copies for them")
        case .erase:
            language.pick(
                thai: "ทำลายหรือลบข้อมูลทั้งหมดของบุคคลนี้ เว้นแต่เอกสารที่กฎหมายกำหนดให้ต้องเก็บรักษา (ระบุเหตุผลไว้)",
                english: "destroy or delete every record of this person, except records the law requires us to keep (say which, and why)")
        case .rectify:
            language.pick(thai: "แก้ไขข้อมูลของบุคคลนี้ตามรายการด้านล่าง", english: "correct this person's records as listed below")
        case .restrict:
            language.pick(
                thai: "ระงับการใช้ข้อมูลของบุคคลนี้ (เก็บไว้ได้ แต่ห้ามนำไปใช้) หรือยกเลิกการระงับตามที่ระบุด้านล่าง",
                english: "restrict this person's records (keep them, but do not use them), or lift the restriction as stated below")
        case .object:
            language.pick(
                thai: "หยุดใช้ข้อมูลของบุคคลนี้เพื่อวัตถุประสงค์ตามที่ระบุด้านล่าง", english: "stop using this person's records for the purposes below")
        }
    }

    var evidenceExample: String {
        switch operation {
        case .export: language.pick(thai: "พบใบสมัคร 1 ฉบับ ส่งสำเนาทางไปรษณีย์ลงทะเบียน", english: "1 form found; a copy sent by registered mail")
        case .erase: language.pick(thai: "ทำลายเอกสาร 3 แผ่น กล่อง 17", english: "shredded 3 pages, box 17")
        case .rectify, .restrict, .object: language.pick(thai: "แก้ไขใบสมัครในกล่อง 17 แล้ว", english: "updated the form in box 17")
        }
    }

    var changeText: String? {
        switch change {
        case .rectify(let changes):
            return changes.keys.sorted().map { "- \($0): \(changes[$0]!)" }.joined(separator: "\n")
        case .restrict(let lift):
            return lift
                ? language.pick(thai: "ยกเลิกการระงับ", english: "lift the restriction")
                : language.pick(thai: "ระงับการใช้", english: "restrict")
        case .object(let purposes):
            return purposes.isEmpty
                ? language.pick(
                    thai: "ทุกวัตถุประสงค์ที่อาศัยความยินยอมหรือประโยชน์โดยชอบด้วยกฎหมาย",
                    english: "every purpose based on consent or legitimate interest")
                : purposes.map { PrivacyVocabulary.label($0, locale: language.rawValue) }.joined(separator: ", ")
        case nil:
            return nil
        }
    }
}
