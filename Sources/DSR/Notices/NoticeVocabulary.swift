import Foundation

/// Words and dates that notices share, per language.
enum NoticeVocabulary {
    static func kindLabel(_ kind: String, locale: String) -> String {
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

    /// `25 ธันวาคม 2569` (Buddhist era) in Thai, `25 December 2026` in English.
    static func date(_ date: Date, locale: String, timeZone: TimeZone) -> String {
        let formatter = DateFormatter()
        formatter.timeZone = timeZone
        if locale == "en" {
            formatter.locale = Locale(identifier: "en_GB")
            formatter.calendar = Calendar(identifier: .gregorian)
        } else {
            formatter.locale = Locale(identifier: "th_TH")
            formatter.calendar = Calendar(identifier: .buddhist)
        }
        formatter.dateFormat = "d MMMM yyyy"
        return formatter.string(from: date)
    }
}
